//! Cost per request of the App's middleware (a measurement, not a test):
//! the six layers the server stacked until git f4dbba9 (metrics, actix's
//! `Logger`, `NormalizePath`, HEAD as GET, NUL checks, `ErrorHandlers`)
//! against the one hand-written [`qaboard_api::boundary::Boundary`] doing the
//! same (issue 16).
//!
//! `cargo run --release -p qaboard-api --example boundary_overhead` runs
//! requests in process (`actix_web::test::call_service`, no network) against
//! a tiny app without middleware, with actix's `Logger` alone (the only
//! layer of git 5366dd1), with the six layers and with the boundary,
//! alternately, and prints ns/request. The access log is enabled at `info`
//! and formatted into a sink (as the server's default `RUST_LOG=info` does,
//! minus the write to stderr).
use std::io::Write as _;

use actix_web::middleware::{from_fn, Logger, NormalizePath, TrailingSlash};
use actix_web::{test, web, App};
use qaboard_api::boundary::Boundary;
use qaboard_api::hardening;
use qaboard_api::metrics::{self, Metrics};

#[macro_use]
mod support;
use support::routes;

/// A logger that formats every enabled record and throws the text away.
struct Sink;

impl log::Log for Sink {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let _ = writeln!(std::io::sink(), "{} {}", r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

fn main() {
    log::set_logger(&Sink).expect("the only logger");
    log::set_max_level(log::LevelFilter::Info);
    actix_web::rt::System::new().block_on(async move {
        let metrics = Metrics::new();
        let data = web::Data::new(metrics.clone());
        for round in 0..3 {
            println!("round {round}");
            let plain = test::init_service(App::new().configure(routes)).await;
            measure!("no middleware", plain);
            let logger = test::init_service(
                App::new()
                    .wrap(Logger::new("%r %s %b %Dms").log_target("qaboard::http"))
                    .configure(routes),
            )
            .await;
            measure!("Logger only (as git 5366dd1)", logger);
            let six = test::init_service(
                App::new()
                    .app_data(data.clone())
                    .wrap(hardening::json_error_bodies())
                    .wrap(from_fn(hardening::check_request_strings))
                    .wrap(from_fn(hardening::head_as_get))
                    .wrap(NormalizePath::new(TrailingSlash::MergeOnly))
                    .wrap(Logger::new("%r %s %b %Dms").log_target("qaboard::http"))
                    .wrap(from_fn(metrics::record_requests))
                    .configure(routes),
            )
            .await;
            measure!("six layers (until f4dbba9)", six);
            let one = test::init_service(
                App::new()
                    .app_data(data.clone())
                    .wrap(Boundary::new(metrics.clone()))
                    .configure(routes),
            )
            .await;
            measure!("Boundary (one layer)", one);
        }
    });
}
