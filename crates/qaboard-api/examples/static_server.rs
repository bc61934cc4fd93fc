//! A server with only `/s/` (for bench/: files without a database):
//! `static_server <listen addr> <root>...`; prints `listening on http://…`.
use actix_web::{App, HttpServer};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let roots: Vec<std::path::PathBuf> = args.map(Into::into).collect();
    let storage = qaboard_storage::Storage::new(roots)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    actix_web::rt::System::new().block_on(async move {
        let server = HttpServer::new(move || {
            let storage = storage.clone();
            App::new()
                .configure(move |cfg| qaboard_api::static_files::configure_standalone(cfg, storage))
        })
        .workers(workers)
        .bind(listen)?;
        for a in server.addrs() {
            println!("listening on http://{a}");
        }
        server.run().await
    })
}
