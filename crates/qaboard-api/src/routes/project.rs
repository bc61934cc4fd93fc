//! `/api/v1/project…`: the projects list, one project, its branches and its
//! shared milestones.
use actix_web::web;

use crate::{both, milestones, reads, resource};

/// Registers the project routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/projects")).route(web::get().to(reads::get_projects)))
        .service(resource(both("/project")).route(web::get().to(reads::get_project)))
        .service(resource(both("/project/branches")).route(web::get().to(reads::get_branches)))
        .service(
            resource(both("/project/milestones"))
                .route(web::get().to(milestones::get_milestones))
                .route(web::post().to(milestones::post_milestones))
                .route(web::delete().to(milestones::delete_milestones)),
        );
}
