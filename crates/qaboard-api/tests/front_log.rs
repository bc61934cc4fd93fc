//! The access log of plain `/s/` files answered by the front service
//! (`qaboard_api::front`) or on a keep-alive connection itself
//! (`qaboard_api::wire::plain_files`) is the line actix's `Logger` writes for the same
//! request through the App. Its own test binary: it installs a process-wide
//! logger capturing the `qaboard::http` target.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use qaboard_api::{ApiConfig, AppState, Application};
use qaboard_db::{DbConfig, DbPool};

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "qaboard::http" && m.level() <= log::Level::Info
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            LINES.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn get(addr: &str, target: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

/// `GET target` on a keep-alive connection (answered on the connection
/// itself, `qaboard_api::wire::plain_files`): the status once the 9-byte
/// body is read.
fn get_kept_alive(addr: &str, target: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") || !buf.ends_with(b"}\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf[9..12]).parse().unwrap()
}

#[test]
fn fast_and_full_paths_write_the_same_access_line() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("a.json"), b"{\"a\": 1}\n").unwrap();
    let mut db = DbConfig::new(dir.path().join("log.db").to_string_lossy());
    db.pool_size = 2;
    let pool = DbPool::connect(&db).unwrap();
    {
        let mut conn = pool.get().unwrap();
        qaboard_db::migrations::run_pending(&mut conn).unwrap();
    }
    let api = ApiConfig {
        storage_root: root.to_str().unwrap().to_string(),
        data_dir: dir.path().join("data"),
        ..ApiConfig::default()
    };
    let state = AppState::new(pool, api);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let app = Application::build(state, ([127, 0, 0, 1], 0).into(), 1).unwrap();
            tx.send((app.addrs()[0], app.handle())).unwrap();
            let _ = app.run_until_stopped().await;
        });
    });
    let (addr, handle) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let addr = addr.to_string();
    let r = root.to_str().unwrap();
    let fast = format!("/s{r}/a.json?v=1");
    let full = format!("/s{r}//a.json?v=1");
    assert_eq!(get(&addr, &fast), 200);
    assert_eq!(get(&addr, &full), 200);
    let kept = format!("/s{r}/a.json?v=2");
    assert_eq!(get_kept_alive(&addr, &kept), 200);
    // The App's line is written when the body is dropped, after the answer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines = LINES.lock().unwrap().clone();
        if lines.len() >= 3 || std::time::Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::mem::drop(handle.stop(false));
    let find = |target: &str| {
        let prefix = format!("GET {target} HTTP/1.1 200 9 ");
        lines
            .iter()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in {lines:?}"))
            .clone()
    };
    for line in [find(&fast), find(&full), find(&kept)] {
        let ms = line.rsplit(' ').next().unwrap();
        let ms = ms.strip_suffix("ms").expect("ends with ms");
        assert_eq!(ms.split('.').nth(1).map(str::len), Some(6), "{line}");
        assert!(ms.parse::<f64>().is_ok(), "{line}");
    }
}
