//! Reading the input without ever hanging wazuh-execd.
//!
//! execd writes one line and keeps stdin open until it has read our reply (or EOF on our stdout),
//! so reading to EOF would deadlock both. We read exactly one line, under a size cap and a
//! timeout. Only when that line is an incomplete JSON value (a pretty-printed alert piped in by a
//! person; execd never sends one) do we read on, until the value is complete.

use std::io::{self, BufRead, Read};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::error::InputError;

/// Reads one message from `reader`: one line, or more lines while they form an unfinished JSON
/// value. Never reads past the end of the value's last line, and never more than `max + 1` bytes.
pub fn read_message(reader: &mut impl BufRead, max: usize) -> Result<Vec<u8>, InputError> {
    let mut buf = Vec::new();
    loop {
        let room = (max + 1).saturating_sub(buf.len()) as u64;
        let n = reader
            .by_ref()
            .take(room)
            .read_until(b'\n', &mut buf)
            .map_err(|e| InputError::Unreadable {
                path: "stdin".into(),
                reason: e.to_string(),
            })?;
        if buf.len() > max {
            return Err(InputError::TooLarge(max));
        }
        if n == 0 {
            return Ok(buf); // EOF
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<serde::de::IgnoredAny>(&buf) {
            Err(e) if e.is_eof() => continue,
            _ => return Ok(buf),
        }
    }
}

/// [`read_message`] on the process's stdin, giving up after `timeout`.
pub fn read_stdin(max: usize, timeout: Duration) -> Result<Vec<u8>, InputError> {
    with_timeout(timeout, move || read_message(&mut io::stdin().lock(), max))
}

/// Reads one more line from stdin (execd's answer to `check_keys`). `Ok(None)` on EOF.
pub fn read_stdin_line(max: usize, timeout: Duration) -> Result<Option<Vec<u8>>, InputError> {
    with_timeout(timeout, move || {
        let mut buf = Vec::new();
        let n = io::stdin()
            .lock()
            .take(max as u64)
            .read_until(b'\n', &mut buf)
            .map_err(|e| InputError::Unreadable {
                path: "stdin".into(),
                reason: e.to_string(),
            })?;
        Ok((n > 0).then_some(buf))
    })
}

/// Runs a blocking read on a helper thread; the thread is left behind on timeout (the process is
/// about to exit or go on without that input).
fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    read: impl FnOnce() -> Result<T, InputError> + Send + 'static,
) -> Result<T, InputError> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(read());
    });
    rx.recv_timeout(timeout)
        .unwrap_or(Err(InputError::Timeout(timeout.as_millis() as u64)))
}

/// Reads a file given with `--alert-file`, under the same size cap.
pub fn read_file(path: &std::path::Path, max: usize) -> Result<Vec<u8>, InputError> {
    let unreadable = |e: io::Error| InputError::Unreadable {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut buf = Vec::new();
    file.take(max as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(unreadable)?;
    if buf.len() > max {
        return Err(InputError::TooLarge(max));
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exactly_one_line() {
        let mut input = io::Cursor::new(b"{\"a\":1}\n{\"second\":2}\n".to_vec());
        let first = read_message(&mut input, 1000).unwrap();
        assert_eq!(first, b"{\"a\":1}\n");
        // The second line is still there for the handshake answer.
        let mut rest = String::new();
        input.read_line(&mut rest).unwrap();
        assert_eq!(rest, "{\"second\":2}\n");
    }

    #[test]
    fn reads_a_pretty_value_to_its_end_only() {
        let mut input = io::Cursor::new(b"{\n  \"a\": 1\n}\nTRAILING".to_vec());
        assert_eq!(
            read_message(&mut input, 1000).unwrap(),
            b"{\n  \"a\": 1\n}\n"
        );
    }

    #[test]
    fn size_cap() {
        let mut input = io::Cursor::new(vec![b'x'; 5000]);
        assert!(matches!(
            read_message(&mut input, 1024),
            Err(InputError::TooLarge(1024))
        ));
        let mut input = io::Cursor::new(
            b"{\"a\":\""
                .iter()
                .chain([b'y'; 3000].iter())
                .copied()
                .collect::<Vec<_>>(),
        );
        assert!(matches!(
            read_message(&mut input, 1024),
            Err(InputError::TooLarge(_))
        ));
    }

    #[test]
    fn garbage_and_empty_come_back_as_is() {
        let mut input = io::Cursor::new(b"not json\nmore\n".to_vec());
        assert_eq!(read_message(&mut input, 1000).unwrap(), b"not json\n");
        let mut input = io::Cursor::new(b"".to_vec());
        assert!(read_message(&mut input, 1000).unwrap().is_empty());
    }

    #[test]
    fn timeout_fires() {
        let start = std::time::Instant::now();
        let r: Result<(), _> = with_timeout(Duration::from_millis(50), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        });
        assert!(matches!(r, Err(InputError::Timeout(50))));
        assert!(start.elapsed() < Duration::from_secs(2));
    }
}
