//! Log lines written off the request path: each formatted line goes into a bounded queue that one
//! thread drains into a buffered stdout (or stderr), flushed whenever the queue runs dry. Nothing
//! is dropped: a full queue makes the logging thread wait, and [`flush`] waits until every line
//! queued so far is written (the server calls it on its way out).

use std::io::Write;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// Lines the queue holds before a logging thread waits.
const QUEUE_LINES: usize = 16_384;

enum Item {
    Line(Vec<u8>),
    /// Answered once everything before it is written and flushed.
    Flush(SyncSender<()>),
}

static PIPE: OnceLock<SyncSender<Item>> = OnceLock::new();

/// Where log lines go.
#[derive(Clone, Copy)]
pub enum Sink {
    Stdout,
    Stderr,
}

/// The `MakeWriter` of the log subscriber: starts the writing thread on first use.
#[derive(Clone, Copy)]
pub struct Pipe(pub Sink);

/// One event's bytes, queued whole when dropped.
pub struct LineWriter {
    buf: Vec<u8>,
    tx: Option<SyncSender<Item>>,
}

impl Write for LineWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.buf);
        match &self.tx {
            Some(tx) => {
                if let Err(e) = tx.send(Item::Line(line)) {
                    // The writer thread is gone: write directly rather than lose the line.
                    if let Item::Line(line) = e.0 {
                        let _ = std::io::stderr().write_all(&line);
                    }
                }
            }
            None => {
                let _ = std::io::stderr().write_all(&line);
            }
        }
    }
}

fn drain(rx: &Receiver<Item>, sink: Sink) {
    let out: Box<dyn Write> = match sink {
        Sink::Stdout => Box::new(std::io::stdout()),
        Sink::Stderr => Box::new(std::io::stderr()),
    };
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(item) = next.take() {
            match item {
                Item::Line(line) => {
                    let _ = out.write_all(&line);
                }
                Item::Flush(done) => {
                    let _ = out.flush();
                    let _ = done.send(());
                }
            }
            next = rx.try_recv().ok();
        }
        // The queue ran dry: what is buffered goes out now.
        let _ = out.flush();
    }
    let _ = out.flush();
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Pipe {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        let sink = self.0;
        let tx = PIPE
            .get_or_init(|| {
                let (tx, rx) = sync_channel(QUEUE_LINES);
                let spawned = std::thread::Builder::new()
                    .name("log-writer".into())
                    .spawn(move || drain(&rx, sink));
                if spawned.is_err() {
                    eprintln!("log writer thread could not start; logging to stderr directly");
                }
                tx
            })
            .clone();
        LineWriter {
            buf: Vec::with_capacity(512),
            tx: Some(tx),
        }
    }
}

/// Waits until every line logged so far is written.
pub fn flush() {
    let Some(tx) = PIPE.get() else {
        return;
    };
    let (done_tx, done_rx) = sync_channel(1);
    if tx.send(Item::Flush(done_tx)).is_ok() {
        let _ = done_rx.recv_timeout(std::time::Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_queued_whole_when_its_writer_drops() {
        let (tx, rx) = sync_channel(4);
        {
            let mut w = LineWriter {
                buf: Vec::new(),
                tx: Some(tx),
            };
            w.write_all(b"{\"a\":").unwrap();
            w.write_all(b"1}\n").unwrap();
            assert!(rx.try_recv().is_err(), "nothing before the event ends");
        }
        match rx.try_recv() {
            Ok(Item::Line(line)) => assert_eq!(line, b"{\"a\":1}\n"),
            _ => panic!("one whole line"),
        }
    }
}
