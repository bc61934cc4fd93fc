//! What the in-process middleware measurements share: a tiny app
//! (`GET /api/v1/item/{id}`) and the `measure!` loop.
use actix_web::{web, HttpResponse};

async fn item(id: web::Path<u32>) -> HttpResponse {
    HttpResponse::Ok().body(format!("item {id}"))
}

/// The tiny app's one route (with and without trailing slash).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(web::resource(["/item/{id}", "/item/{id}/"]).route(web::get().to(item))),
    );
}

/// Requests timed by `measure!`.
pub const N: u32 = 200_000;

/// Sends 10,000 warm-up requests then `N` requests to `$app` one after the
/// other, and prints ns/request after `$name`.
#[macro_export]
macro_rules! measure {
    ($name:expr, $app:expr) => {{
        let app = &$app;
        for _ in 0..10_000 {
            actix_web::test::call_service(
                app,
                actix_web::test::TestRequest::get()
                    .uri("/api/v1/item/7")
                    .to_request(),
            )
            .await;
        }
        let start = std::time::Instant::now();
        for i in 0..support::N {
            let uri = format!("/api/v1/item/{}", i % 1000);
            let res = actix_web::test::call_service(
                app,
                actix_web::test::TestRequest::get().uri(&uri).to_request(),
            )
            .await;
            assert!(res.status().is_success());
        }
        let ns = start.elapsed().as_nanos() / u128::from(support::N);
        println!("{:<40} {ns:>6} ns/request", $name);
    }};
}
