//! `GET /api/v1/export/`: export a commit's outputs to a shared folder
//! (OPERATIONS.md §9; the work is in [`crate::export`]).
use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::export::{export, ExportQuery};
use crate::extract::ReadAccess;
use crate::state::AppState;
use crate::{both, resource, run_db};

/// Registers the export route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(both("/export")).route(web::get().to(get_export)));
}

/// `GET /api/v1/export/?project=&new_commit_id=&…`: answers
/// `{export_dir, nb_outputs, nb_outputs_ref, nb_files_exported,
/// nb_files_copied, errors}`.
async fn get_export(
    _: ReadAccess,
    state: web::Data<AppState>,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let state = state.into_inner();
    let answer = run_db(move || {
        let mut conn = state.pool.get()?;
        export(
            &mut conn,
            &state.storage,
            &state.config.storage_root,
            &q.into_inner(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(answer))
}
