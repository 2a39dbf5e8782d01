//! The access log is written off the request path (a queue drained by one thread) and loses
//! nothing: every request answered before a SIGTERM has its line on stdout when the process ends.

use std::time::{Duration, Instant};

use crate::both;
use crate::support::*;

both!(every_answered_request_is_logged_by_exit);

async fn every_answered_request_is_logged_by_exit(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let mut server = Server::start(&db, &[]);
    let c = server.client();
    let marker = "/healthz?log-line-check";
    for _ in 0..500 {
        assert!(c.get(marker).await.status.is_success());
    }
    assert!(server.terminate().success());
    // The reader thread may still be copying the pipe's last bytes.
    let since = Instant::now();
    loop {
        let lines = server
            .stdout
            .lock()
            .expect("lock")
            .lines()
            .filter(|l| l.contains("gatehouse::access") && l.contains("\"path\":\"/healthz\""))
            .count();
        if lines >= 500 {
            assert_eq!(lines, 500);
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "{lines} of 500 access lines"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
