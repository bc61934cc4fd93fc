//! Cost of the metrics middleware per request (a measurement, not a test).
//!
//! `cargo run --release -p qaboard-api --example metrics_overhead` runs
//! requests in process (`actix_web::test::call_service`, no network) against
//! a tiny app with and without `record_requests`, and prints ns/request.
//! With `serve`, it instead serves both apps on 127.0.0.1 (ports printed) for
//! an HTTP load tool such as `wrk`.
use std::time::Instant;

use actix_web::middleware::from_fn;
use actix_web::{test, web, App, HttpResponse, HttpServer};
use qaboard_api::metrics::{self, Metrics};

async fn item(id: web::Path<u32>) -> HttpResponse {
    HttpResponse::Ok().body(format!("item {id}"))
}

fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(web::resource(["/item/{id}", "/item/{id}/"]).route(web::get().to(item))),
    );
}

const N: u32 = 200_000;

/// Sends N requests to `$app` one after the other and prints ns/request.
macro_rules! measure {
    ($name:expr, $app:expr) => {{
        let app = &$app;
        for _ in 0..10_000 {
            test::call_service(
                app,
                test::TestRequest::get().uri("/api/v1/item/7").to_request(),
            )
            .await;
        }
        let start = Instant::now();
        for i in 0..N {
            let uri = format!("/api/v1/item/{}", i % 1000);
            let res =
                test::call_service(app, test::TestRequest::get().uri(&uri).to_request()).await;
            assert!(res.status().is_success());
        }
        let ns = start.elapsed().as_nanos() / u128::from(N);
        println!("{:<32} {ns:>6} ns/request", $name);
    }};
}

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
