//! Cost of the metrics middleware per request (a measurement, not a test).
//!
//! `cargo run --release -p qaboard-api --example metrics_overhead` runs
//! requests in process (`actix_web::test::call_service`, no network) against
//! a tiny app with and without `record_requests`, and prints ns/request.
//! With `serve`, it instead serves both apps on 127.0.0.1 (ports printed) for
//! an HTTP load tool such as `wrk`.

use actix_web::middleware::from_fn;
use actix_web::{test, web, App, HttpServer};
use qaboard_api::metrics::{self, Metrics};

#[macro_use]
mod support;
use support::routes;

fn main() -> std::io::Result<()> {
    let serve = std::env::args().nth(1).as_deref() == Some("serve");
    actix_web::rt::System::new().block_on(async move {
        let data = web::Data::new(Metrics::new());
        if serve {
            let d = data.clone();
            let with = HttpServer::new(move || {
                App::new()
                    .app_data(d.clone())
                    .wrap(from_fn(metrics::record_requests))
                    .configure(metrics::configure)
                    .configure(routes)
            })
            .workers(1)
            .bind("127.0.0.1:0")?;
            let without = HttpServer::new(|| App::new().configure(routes))
                .workers(1)
                .bind("127.0.0.1:0")?;
            println!("with middleware:    http://{}", with.addrs()[0]);
            println!("without middleware: http://{}", without.addrs()[0]);
            let (a, b) = futures_util::future::join(with.run(), without.run()).await;
            return a.and(b);
        }
        for round in 0..3 {
            println!("round {round}");
            let plain = test::init_service(App::new().configure(routes)).await;
            measure!("no middleware", plain);
            let no_data = test::init_service(
                App::new()
                    .wrap(from_fn(metrics::record_requests))
                    .configure(routes),
            )
            .await;
            measure!("middleware, no Metrics data", no_data);
            let with = test::init_service(
                App::new()
                    .app_data(data.clone())
                    .wrap(from_fn(metrics::record_requests))
                    .configure(routes),
            )
            .await;
            measure!("middleware recording", with);
        }
        Ok(())
    })
}
