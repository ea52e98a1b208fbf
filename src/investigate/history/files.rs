//! The file backend: the manager's own alert log, newest first.
//!
//! `alerts.json` is read backwards from its end in large blocks; each block is searched forward
//! with memchr's SIMD `memmem` for the address text, and only the lines that contain it are
//! parsed and checked. Reading stops as soon as `max_events` recent events are found, or once a
//! block starts before the window. Then come the rotated files of earlier days
//! (`YYYY/Mon/ossec-alerts-DD[-NNN].json[.gz]`), newest first: plain ones backwards the same way,
//! `.gz` ones forward, keeping the newest matches. The daily file that `alerts.json` is a hard
//! link to is not read twice.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use memchr::memmem;

use super::{parse_timestamp, Collector, Found, Query};
use crate::intake::alert::Alert;

/// One read. Large enough that reading backwards costs few system calls and seeks.
const BLOCK: usize = 4 << 20;
/// A line longer than this is skipped (Wazuh caps an event at 64 KiB; escaped, a few times that).
const MAX_LINE: usize = 1 << 20;
/// alerts.json is written in time order give or take the writer's queue: a block whose first
/// line is older than the window by more than this ends the search.
const ORDER_SLACK_SECS: i64 = 300;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Whether to go on reading older data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    /// Enough events, or the data is older than the window, or the deadline passed.
    Stop,
}

/// Scans one rotated file (gzipped or plain); one that cannot be read is noted and passed over.
fn scan_rotated(
    file: File,
    candidate: &Candidate,
    finders: &[memmem::Finder<'_>],
    collector: &mut Collector,
) -> Flow {
    if candidate.gz {
        match scan_gz(file, finders, collector) {
            Ok(flow) => flow,
            Err(e) => {
                tracing::warn!(
                    "history: skipped {}: not a readable gzip file ({e})",
                    candidate.path.display()
                );
                collector.note(format!(
                    "skipped {}: not a readable gzip file ({e})",
                    candidate.path.display()
                ));
                Flow::Continue
            }
        }
    } else {
        match scan_backwards(&file, finders, collector) {
            Ok(flow) => flow,
            Err(e) => {
                collector.note(format!(
                    "{} could not be read to the end: {e}",
                    candidate.path.display()
                ));
                Flow::Continue
            }
        }
    }
}

/// Searches `alerts_file` and the rotated files beside it for the events of `query.ip`, newest
/// first (see the module docs). Files that are missing, unreadable or corrupt are skipped with a
/// note; it fails only when not a single file could be read.
pub fn search_files(alerts_file: &Path, query: &Query) -> anyhow::Result<Found> {
    let mut collector = Collector::new(query.clone(), "alert log");
    if query.max_events == 0 {
        return Ok(collector.finish());
    }
    let needles = needles(query.ip);
    let finders: Vec<memmem::Finder<'_>> = needles
        .iter()
        .map(|n| memmem::Finder::new(n.as_bytes()))
        .collect();

    let live = std::fs::metadata(alerts_file).map(|m| (m.dev(), m.ino()));
    let mut read_any = false;
    let mut live_error = None;
    match File::open(alerts_file) {
        Ok(file) => {
            read_any = true;
            match scan_backwards(&file, &finders, &mut collector) {
                Ok(Flow::Stop) => return Ok(finish(collector)),
                Ok(Flow::Continue) => {}
                Err(e) => collector.note(format!(
                    "{} could not be read to the end: {e}",
                    alerts_file.display()
                )),
            }
        }
        Err(e) => {
            live_error = Some(format!("cannot open {}: {e}", alerts_file.display()));
        }
    }

    let dir = alerts_file.parent().unwrap_or(Path::new("."));
    for candidate in rotated_files(dir, query) {
        if query.past_deadline() {
            note_deadline(&mut collector);
            break;
        }
        let Ok(meta) = std::fs::metadata(&candidate.path) else {
            continue;
        };
        if live.as_ref().ok() == Some(&(meta.dev(), meta.ino())) {
            continue; // alerts.json is a hard link to today's file: already read.
        }
        let file = match File::open(&candidate.path) {
            Ok(f) => f,
            Err(e) => {
                collector.note(format!("skipped {}: {e}", candidate.path.display()));
                continue;
            }
        };
        read_any = true;
        let flow = scan_rotated(file, &candidate, &finders, &mut collector);
        if flow == Flow::Stop {
            break;
        }
    }
    match live_error {
        Some(e) if !read_any => Err(anyhow::anyhow!(e)),
        Some(e) => {
            collector.note(e);
            Ok(finish(collector))
        }
        None => Ok(finish(collector)),
    }
}

fn finish(collector: Collector) -> Found {
    collector.finish()
}

fn note_deadline(collector: &mut Collector) {
    let note = format!(
        "the search stopped after {} s; older events were not read",
        super::FILE_TIME_LIMIT.as_secs()
    );
    if !collector.found.notes.contains(&note) {
        collector.note(note);
    }
}

/// The texts an address can be written as in a log. IPv4: the dotted quad (which also finds
/// `::ffff:a.b.c.d`). IPv6: the RFC 5952 form and the fully expanded one, in lower and upper
/// case; other spellings are not found by the file backend.
fn needles(ip: IpAddr) -> Vec<String> {
    let mut out = vec![ip.to_string()];
    if let IpAddr::V6(v6) = ip {
        let s = v6.segments();
        out.push(
            s.iter()
                .map(|g| format!("{g:04x}"))
                .collect::<Vec<_>>()
                .join(":"),
        );
        for i in 0..out.len() {
            out.push(out[i].to_uppercase());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A rotated file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Candidate {
    path: PathBuf,
    gz: bool,
}

/// The rotated alert files whose day overlaps the window, newest first: for each day from the
/// window's end back to its start, `-NNN` pieces from the highest number down, then the day's
/// first file. When a piece exists both plain and compressed, the plain one is read (the `.gz` is
/// being written). Days are the manager's local days, taken in the offset of `query.until`.
fn rotated_files(dir: &Path, query: &Query) -> Vec<Candidate> {
    let offset = *query.until.offset();
    let last = query.until.with_timezone(&offset).date_naive();
    // Two hours of slack for a daylight-saving change inside the window.
    let first = (query.since - chrono::Duration::hours(2))
        .with_timezone(&offset)
        .date_naive();
    let mut months: HashMap<PathBuf, Vec<String>> = HashMap::new();
    let mut out = Vec::new();
    let mut day = last;
    while day >= first {
        let month_dir = dir
            .join(format!("{:04}", day.year()))
            .join(MONTHS[day.month0() as usize]);
        let names = months
            .entry(month_dir.clone())
            .or_insert_with(|| list_names(&month_dir));
        out.extend(day_files(&month_dir, names, day));
        match day.pred_opt() {
            Some(d) => day = d,
            None => break,
        }
    }
    out
}

fn list_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The files of one day in `names`, newest first.
fn day_files(month_dir: &Path, names: &[String], day: NaiveDate) -> Vec<Candidate> {
    let prefix = format!("ossec-alerts-{:02}", day.day());
    // piece number (None = the day's first file) -> (plain, gz)
    let mut pieces: Vec<(Option<u32>, bool, bool)> = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let (rest, gz) = match rest.strip_suffix(".json.gz") {
            Some(r) => (r, true),
            None => match rest.strip_suffix(".json") {
                Some(r) => (r, false),
                None => continue,
            },
        };
        let piece = if rest.is_empty() {
            None
        } else {
            match rest.strip_prefix('-') {
                Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    n.parse::<u32>().ok()
                }
                _ => continue,
            }
        };
        match pieces.iter_mut().find(|p| p.0 == piece) {
            Some(p) => {
                if gz {
                    p.2 = true;
                } else {
                    p.1 = true;
                }
            }
            None => pieces.push((piece, !gz, gz)),
        }
    }
    // Newest first: the highest piece number first, the day's first file (None) last.
    pieces.sort_by_key(|p| std::cmp::Reverse(p.0));
    pieces
        .into_iter()
        .map(|(piece, plain, _)| {
            let stem = match piece {
                Some(n) => format!("{prefix}-{n:03}"),
                None => prefix.clone(),
            };
            if plain {
                Candidate {
                    path: month_dir.join(format!("{stem}.json")),
                    gz: false,
                }
            } else {
                Candidate {
                    path: month_dir.join(format!("{stem}.json.gz")),
                    gz: true,
                }
            }
        })
        .collect()
}

/// The start offsets of the lines in `region` that contain a needle, in file order.
fn hit_lines(region: &[u8], finders: &[memmem::Finder<'_>]) -> Vec<(usize, usize)> {
    let mut starts: Vec<usize> = Vec::new();
    for f in finders {
        let mut from = 0;
        while let Some(i) = f.find(&region[from..]) {
            let hit = from + i;
            let start = memchr::memrchr(b'\n', &region[..hit]).map_or(0, |p| p + 1);
            let end = memchr::memchr(b'\n', &region[hit..]).map_or(region.len(), |p| hit + p);
            starts.push(start);
            // One parse per line however often the address appears in it.
            from = end.min(region.len());
            if from >= region.len() {
                break;
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
        .into_iter()
        .map(|s| {
            let e = memchr::memchr(b'\n', &region[s..]).map_or(region.len(), |p| s + p);
            (s, e)
        })
        .collect()
}

/// Parses one candidate line into an alert; a half-written or garbled line gives `None`.
fn parse_line(line: &[u8]) -> Option<Alert> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match serde_json::from_slice::<serde_json::Value>(line) {
        Ok(v @ serde_json::Value::Object(_)) => Some(Alert::new(v)),
        _ => None,
    }
}

/// The timestamp at the start of a line (`{"timestamp":"...` is the first key Wazuh writes).
fn line_time(line: &[u8]) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    const KEY: &[u8] = b"\"timestamp\":\"";
    let head = &line[..line.len().min(256)];
    let at = memmem::find(head, KEY)? + KEY.len();
    let rest = &line[at..line.len().min(at + 64)];
    let end = memchr::memchr(b'"', rest)?;
    parse_timestamp(std::str::from_utf8(&rest[..end]).ok()?)
}

/// Reads a plain file backwards from its end. A partial last line (analysisd is writing it)
/// fails to parse and is passed over.
fn scan_backwards(
    file: &File,
    finders: &[memmem::Finder<'_>],
    collector: &mut Collector,
) -> std::io::Result<Flow> {
    let len = file.metadata()?.len();
    let mut pos = len;
    let mut buf: Vec<u8> = Vec::new();
    // The end of a line whose start lies before `pos`: joined to the next (earlier) block.
    let mut tail: Vec<u8> = Vec::new();
    while pos > 0 {
        if collector.query().past_deadline() {
            note_deadline(collector);
            return Ok(Flow::Stop);
        }
        let start = pos.saturating_sub(BLOCK as u64);
        let size = (pos - start) as usize;
        buf.clear();
        buf.resize(size, 0);
        file.read_exact_at(&mut buf, start)?;
        // The kernel's readahead only follows forward reads: ask for the block before this one
        // now, so that the disk reads it while this one is searched.
        prefetch(file, start.saturating_sub(2 * BLOCK as u64), start);
        buf.extend_from_slice(&tail);
        let first_nl = if start == 0 {
            None
        } else {
            memchr::memchr(b'\n', &buf[..size])
        };
        let region_start = match (start, first_nl) {
            (0, _) => 0,
            (_, Some(i)) => i + 1,
            (_, None) => {
                // No line ends in this block: the whole of it belongs to one long line. One too
                // long to keep is dropped; its start then fails to parse, and is passed over.
                if buf.len() > MAX_LINE {
                    tail.clear();
                } else {
                    std::mem::swap(&mut tail, &mut buf);
                }
                pos = start;
                continue;
            }
        };
        let region = &buf[region_start..];
        let flow = scan_region(region, finders, collector);
        let older = line_time(region).is_some_and(|t| {
            t < collector.query().since - chrono::Duration::seconds(ORDER_SLACK_SECS)
        });
        if flow == Flow::Stop || older {
            return Ok(Flow::Stop);
        }
        tail.clear();
        if region_start <= MAX_LINE {
            tail.extend_from_slice(&buf[..region_start]);
        }
        pos = start;
    }
    if !tail.is_empty() {
        if let Flow::Stop = scan_region(&tail, finders, collector) {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// Starts reading `from..to` of `file` into the page cache in the background (a hint).
fn prefetch(file: &File, from: u64, to: u64) {
    use std::os::unix::io::AsRawFd;
    let (Ok(offset), Ok(len)) = (
        libc::off_t::try_from(from),
        libc::off_t::try_from(to - from),
    ) else {
        return;
    };
    if len > 0 {
        // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is open for
        // the lifetime of `file`. Its result is a hint's: ignoring a failure is correct.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_WILLNEED);
        }
    }
}

/// The matches in a region of whole lines, last line first.
fn scan_region(region: &[u8], finders: &[memmem::Finder<'_>], collector: &mut Collector) -> Flow {
    for (s, e) in hit_lines(region, finders).into_iter().rev() {
        if let Some(event) = parse_line(&region[s..e]).and_then(|a| collector.query().accept(&a)) {
            if !collector.push(event) {
                return Flow::Stop;
            }
        }
    }
    Flow::Continue
}

/// Reads a `.gz` file forward (there is no other way) and keeps its newest matches. A corrupt or
/// truncated file is an error, and then none of its events are used.
fn scan_gz(
    file: File,
    finders: &[memmem::Finder<'_>],
    collector: &mut Collector,
) -> std::io::Result<Flow> {
    let room = collector
        .query()
        .max_events
        .saturating_sub(collector.found.events.len());
    let mut newest: VecDeque<super::Event> = VecDeque::with_capacity(room.min(1024));
    let mut decoder =
        flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(256 << 10, file));
    let mut buf: Vec<u8> = vec![0; BLOCK];
    let mut filled = 0;
    let mut skipping_long_line = false;
    loop {
        if collector.query().past_deadline() {
            note_deadline(collector);
            return Ok(Flow::Stop);
        }
        let n = decoder.read(&mut buf[filled..])?;
        let eof = n == 0;
        filled += n;
        let end = if eof {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(i) => i + 1,
                None if filled == buf.len() => {
                    // One line fills the buffer: skip it.
                    skipping_long_line = true;
                    filled = 0;
                    continue;
                }
                None => continue,
            }
        };
        let mut region = &buf[..end];
        if skipping_long_line {
            let cut = memchr::memchr(b'\n', region).map_or(region.len(), |p| p + 1);
            region = &region[cut..];
            skipping_long_line = false;
        }
        for (s, e) in hit_lines(region, finders) {
            if let Some(event) =
                parse_line(&region[s..e]).and_then(|a| collector.query().accept(&a))
            {
                if room > 0 {
                    if newest.len() == room {
                        newest.pop_front();
                    }
                    newest.push_back(event);
                }
            }
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        if eof {
            break;
        }
    }
    for event in newest.into_iter().rev() {
        if !collector.push(event) {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::time::Duration;

    use crate::investigate::history::parse_timestamp;

    const IP: &str = "198.51.100.7";

    fn query(ip: &str, max: usize, hours: u64, now: &str) -> Query {
        Query::new(
            ip.parse().unwrap(),
            None,
            max,
            Duration::from_secs(hours * 3600),
            parse_timestamp(now).unwrap(),
        )
    }

    /// A realistic alerts.json line, `timestamp` first as Wazuh writes it; `n` is put in the
    /// alert id and the log line.
    fn line(ts: &str, srcip: &str, n: usize) -> String {
        let rest = serde_json::json!({
            "rule":{"level":5,"description":"sshd: Attempt to login using a non-existent user","id":"5710",
                    "groups":["syslog","sshd","authentication_failed"]},
            "agent":{"id":"003","name":"web-01","ip":"172.18.1.10"},
            "manager":{"name":"wazuh-manager"},"id":format!("1718000000.{n}"),
            "full_log":format!("Jun 10 12:00:00 web-01 sshd[{n}]: Invalid user admin from {srcip} port 4242 ssh2"),
            "decoder":{"parent":"sshd","name":"sshd"},
            "data":{"srcip":srcip,"srcport":"4242","srcuser":"admin"},
            "location":"/var/log/auth.log"})
        .to_string();
        format!("{{\"timestamp\":\"{ts}\",{}", &rest[1..])
    }

    fn ids(found: &Found) -> Vec<String> {
        found
            .events
            .iter()
            .map(|e| e.id.clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn needles_for_v4_and_v6() {
        assert_eq!(needles("10.0.0.1".parse().unwrap()), vec!["10.0.0.1"]);
        let v6 = needles("2001:db8::a".parse().unwrap());
        assert!(v6.contains(&"2001:db8::a".to_string()));
        assert!(v6.contains(&"2001:DB8::A".to_string()));
        assert!(v6.contains(&"2001:0db8:0000:0000:0000:0000:0000:000a".to_string()));
    }

    #[test]
    fn day_files_newest_first_plain_preferred() {
        let names: Vec<String> = [
            "ossec-alerts-05.json.gz",
            "ossec-alerts-05-001.json.gz",
            "ossec-alerts-05-002.json",
            "ossec-alerts-05-002.json.gz",
            "ossec-alerts-05.json.sum",
            "ossec-alerts-05.log.gz",
            "ossec-alerts-05-x.json",
            "ossec-alerts-15.json",
        ]
        .map(String::from)
        .to_vec();
        let got = day_files(
            Path::new("/a/2024/Jun"),
            &names,
            NaiveDate::from_ymd_opt(2024, 6, 5).unwrap(),
        );
        let got: Vec<String> = got.iter().map(|c| c.path.display().to_string()).collect();
        assert_eq!(
            got,
            vec![
                "/a/2024/Jun/ossec-alerts-05-002.json",
                "/a/2024/Jun/ossec-alerts-05-001.json.gz",
                "/a/2024/Jun/ossec-alerts-05.json.gz",
            ]
        );
    }

    /// Blocks are 4 MiB: a file of several blocks with the matches spread over it, a line split
    /// across every block boundary, must give exactly the matches in the window, newest first.
    #[test]
    fn backwards_across_blocks_finds_exactly_the_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        let mut f = std::io::BufWriter::new(File::create(&path).unwrap());
        let mut want = Vec::new();
        // 30,000 lines of ~600 bytes = ~18 MiB; from 2024-06-10T00:00 one line a second.
        let base = parse_timestamp("2024-06-10T00:00:00.000+0000").unwrap();
        for n in 0..30_000usize {
            let ts = (base + chrono::Duration::seconds(n as i64))
                .format("%Y-%m-%dT%H:%M:%S%.3f%z")
                .to_string();
            let ip = match n % 997 {
                0 => IP,
                1 => "198.51.100.70", // look-alike
                _ => "203.0.113.50",
            };
            if ip == IP {
                want.push(format!("1718000000.{n}"));
            }
            writeln!(f, "{}", line(&ts, ip, n)).unwrap();
        }
        f.flush().unwrap();
        drop(f);
        want.reverse();
        let q = query(IP, 100, 72, "2024-06-10T12:00:00.000+0000");
        let found = search_files(&path, &q).unwrap();
        assert_eq!(ids(&found), want);
        assert!(!found.limit_reached);
        // The limit: only the newest ones.
        let q = query(IP, 5, 72, "2024-06-10T12:00:00.000+0000");
        let found = search_files(&path, &q).unwrap();
        assert_eq!(ids(&found), want[..5].to_vec());
        assert!(found.limit_reached);
        // The window: 2 h back from 08:00 holds the events of 06:00..=08:00 only.
        let q = query(IP, 100, 2, "2024-06-10T08:00:00.000+0000");
        let found = search_files(&path, &q).unwrap();
        let in_window: Vec<String> = want
            .iter()
            .filter(|id| {
                let n: i64 = id.rsplit('.').next().unwrap().parse().unwrap();
                (6 * 3600..=8 * 3600).contains(&n)
            })
            .cloned()
            .collect();
        assert!(!in_window.is_empty());
        assert_eq!(ids(&found), in_window);
    }

    #[test]
    fn partial_last_line_and_garbage_are_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        let full = line("2024-06-10T10:00:00.000+0000", IP, 1);
        let partial = line("2024-06-10T10:00:01.000+0000", IP, 2);
        let text = format!("not json {IP}\n{full}\n{}", &partial[..partial.len() / 2]);
        std::fs::write(&path, text).unwrap();
        let q = query(IP, 30, 72, "2024-06-10T12:00:00.000+0000");
        let found = search_files(&path, &q).unwrap();
        assert_eq!(ids(&found), vec!["1718000000.1"]);
    }

    #[test]
    fn a_missing_log_is_an_error_when_nothing_else_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let q = query(IP, 30, 72, "2024-06-10T12:00:00.000+0000");
        let err = search_files(&dir.path().join("alerts.json"), &q).unwrap_err();
        assert!(format!("{err:#}").contains("cannot open"), "{err:#}");
    }

    fn gz(lines: &[String]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for l in lines {
            writeln!(e, "{l}").unwrap();
        }
        e.finish().unwrap()
    }

    /// The Wazuh layout: alerts.json a hard link to today's second piece, today's first piece
    /// plain, earlier days compressed, one of them corrupt, one outside the window.
    #[test]
    fn rotated_days_gz_hard_link_and_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let month = dir.path().join("2024").join("Jun");
        std::fs::create_dir_all(&month).unwrap();
        let l = |ts: &str, ip: &str, n: usize| line(&format!("2024-06-{ts}.000+0000"), ip, n);
        let today_1 = month.join("ossec-alerts-10-001.json");
        std::fs::write(
            &today_1,
            format!(
                "{}\n{}\n{}\n{}",
                l("10T11:00:00", IP, 11),
                l("10T11:10:00", "198.51.100.77", 12),
                l("10T11:30:00", &format!("::ffff:{IP}"), 13),
                &l("10T11:40:00", IP, 14)[..100]
            ),
        )
        .unwrap();
        std::fs::hard_link(&today_1, dir.path().join("alerts.json")).unwrap();
        std::fs::write(
            month.join("ossec-alerts-10.json"),
            format!(
                "{}\n{}\n",
                l("10T01:00:00", IP, 10),
                l("10T02:00:00", "10.0.0.7", 9)
            ),
        )
        .unwrap();
        std::fs::write(
            month.join("ossec-alerts-09.json.gz"),
            gz(&[
                l("09T05:00:00", IP, 8),
                l("09T06:00:00", "198.51.100.7x", 7),
                l("09T20:00:00", IP, 6),
            ]),
        )
        .unwrap();
        let mut corrupt = gz(&[l("08T12:00:00", IP, 5)]);
        let mid = corrupt.len() / 2;
        corrupt[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
        std::fs::write(month.join("ossec-alerts-08.json.gz"), corrupt).unwrap();
        std::fs::write(
            month.join("ossec-alerts-07.json.gz"),
            gz(&[l("07T10:00:00", IP, 4), l("07T13:00:00", IP, 3)]),
        )
        .unwrap();
        // Outside the window: never opened (it would be noted as corrupt).
        std::fs::write(month.join("ossec-alerts-06.json.gz"), b"not gzip").unwrap();

        let q = query(IP, 30, 72, "2024-06-10T12:00:00.000+0000");
        let found = search_files(&dir.path().join("alerts.json"), &q).unwrap();
        let want: Vec<String> = [13, 11, 10, 6, 8, 3]
            .iter()
            .map(|n| format!("1718000000.{n}"))
            .collect();
        assert_eq!(ids(&found), want);
        assert_eq!(found.notes.len(), 1, "{:?}", found.notes);
        assert!(
            found.notes[0].contains("ossec-alerts-08.json.gz"),
            "{:?}",
            found.notes
        );
        assert!(!found.limit_reached);

        // Enough in today's files: the compressed days are not needed.
        let q = query(IP, 3, 72, "2024-06-10T12:00:00.000+0000");
        let found = search_files(&dir.path().join("alerts.json"), &q).unwrap();
        assert_eq!(ids(&found), want[..3].to_vec());
        assert!(found.limit_reached);
        assert!(found.notes.is_empty(), "{:?}", found.notes);

        // The alert under analysis is left out; the window reaches an hour past it (here: to
        // now), so the event that followed it (13) counts.
        let current = Alert::new(serde_json::from_str(&l("10T11:00:00", IP, 11)).unwrap());
        let q = Query::new(
            IP.parse().unwrap(),
            Some(&current),
            30,
            Duration::from_secs(72 * 3600),
            parse_timestamp("2024-06-10T12:00:00.000+0000").unwrap(),
        );
        let found = search_files(&dir.path().join("alerts.json"), &q).unwrap();
        let mut after: Vec<String> = vec!["1718000000.13".into()];
        after.extend(want[2..].iter().map(|s| s.to_string()));
        assert_eq!(ids(&found), after);
    }

    #[test]
    fn ipv6_spellings_and_look_alikes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        let l = |ip: &str, n: usize| line("2024-06-10T10:00:00.000+0000", ip, n);
        std::fs::write(
            &path,
            [
                l("2001:db8::7", 1),
                l("2001:db8::70", 2),
                l("2001:0DB8:0000:0000:0000:0000:0000:0007", 3),
                l("2001:db8::7:1", 4),
                l("2001:DB8::7", 5),
            ]
            .join("\n"),
        )
        .unwrap();
        let q = query("2001:db8::7", 30, 72, "2024-06-10T12:00:00.000+0000");
        let mut got = ids(&search_files(&path, &q).unwrap());
        got.sort();
        assert_eq!(got, vec!["1718000000.1", "1718000000.3", "1718000000.5"]);
    }

    #[test]
    fn line_time_reads_the_first_key() {
        let l = line("2024-06-10T10:00:00.000+0000", IP, 1);
        assert_eq!(
            line_time(l.as_bytes()),
            parse_timestamp("2024-06-10T10:00:00.000+0000")
        );
        assert_eq!(line_time(b"{\"rule\":{}}"), None);
    }
}
