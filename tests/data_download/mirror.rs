//! A local HTTP server for the download tests, on 127.0.0.1: it serves
//! files by path, answers range requests with 206, and misbehaves on
//! demand (breaks the connection, answers an error, flips a byte, ignores
//! ranges, sends slowly). Written on std's sockets so that a broken
//! connection is exactly that. Stopped when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cnnc::data::named::{Archive, SetSpec};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Serve,
    /// Sends the headers and this many bytes of the body, then closes.
    DropAfter(usize),
    /// Answers this status with no body.
    Status(u16, &'static str),
    /// Serves the file with the byte at this offset flipped.
    Corrupt(usize),
    /// Answers a range request with the whole file (200).
    IgnoreRanges,
    /// Sends 16 KiB at a time, pausing between.
    Slow(Duration),
}

/// A request the server answered: its path and Range header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
}

pub struct Mirror {
    pub url: String,
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    files: HashMap<String, Vec<u8>>,
    behaviour: Arc<Mutex<Behaviour>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mirror {
    /// Serves `files` (path such as `/cifar10/cifar-10-binary.tar.gz`, bytes).
    pub fn start(files: Vec<(String, Vec<u8>)>) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let behaviour = Arc::new(Mutex::new(Behaviour::Serve));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Shared {
            files: files.into_iter().collect(),
            behaviour: behaviour.clone(),
            seen: seen.clone(),
        });
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || answer(stream, &shared));
            }
        });
        Mirror {
            url: format!("http://{addr}"),
            addr,
            behaviour,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Every request answered so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(mut stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return; // the accept loop's wake-up
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("range")
        {
            range = Some(value.trim().to_string());
        }
    }
    let behaviour = *shared.behaviour.lock().unwrap();
    shared.seen.lock().unwrap().push(Seen {
        path: path.clone(),
        range: range.clone(),
    });
    let _ = respond(&mut stream, shared.files.get(&path), range, behaviour);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn respond(
    stream: &mut TcpStream,
    file: Option<&Vec<u8>>,
    range: Option<String>,
    behaviour: Behaviour,
) -> std::io::Result<()> {
    let head = |status: &str, length: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\n{extra}Connection: close\r\n\r\n")
    };
    let Some(file) = file else {
        return stream.write_all(head("404 Not Found", 0, "").as_bytes());
    };
    if let Behaviour::Status(code, reason) = behaviour {
        return stream.write_all(head(&format!("{code} {reason}"), 0, "").as_bytes());
    }
    let corrupted;
    let body: &[u8] = match behaviour {
        Behaviour::Corrupt(at) => {
            let mut copy = file.clone();
            copy[at] ^= 0x5a;
            corrupted = copy;
            &corrupted
        }
        _ => file, // not copied: a test may serve a large file of zeros
    };
    let start = range
        .as_deref()
        .filter(|_| behaviour != Behaviour::IgnoreRanges)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<usize>().ok());
    let (status, body, extra) = match start {
        Some(start) if start >= body.len() => {
            return stream.write_all(head("416 Range Not Satisfiable", 0, "").as_bytes());
        }
        Some(start) => (
            "206 Partial Content",
            &body[start..],
            format!(
                "Content-Range: bytes {start}-{}/{}\r\n",
                body.len() - 1,
                body.len()
            ),
        ),
        None => ("200 OK", body, String::new()),
    };
    stream.write_all(head(status, body.len(), &extra).as_bytes())?;
    match behaviour {
        Behaviour::DropAfter(n) => stream.write_all(&body[..n.min(body.len())]),
        Behaviour::Slow(pause) => {
            for chunk in body.chunks(16 << 10) {
                stream.write_all(chunk)?;
                std::thread::sleep(pause);
            }
            Ok(())
        }
        _ => stream.write_all(body),
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The official set with its files replaced by `files` (same names and
/// layout, their own sizes and checksums), served from `url/<set>/<name>`.
pub fn test_set(official: &SetSpec, files: &[Vec<u8>], url: &str) -> SetSpec {
    assert_eq!(official.files.len(), files.len());
    SetSpec {
        files: official
            .files
            .iter()
            .zip(files)
            .map(|(archive, bytes)| Archive {
                bytes: bytes.len() as u64,
                sha256: sha256_hex(bytes),
                urls: vec![format!("{url}/{}/{}", official.name, archive.name)],
                ..archive.clone()
            })
            .collect(),
        ..official.clone()
    }
}

/// The server paths of a set's files with their bytes.
pub fn paths(set: &SetSpec, files: &[Vec<u8>]) -> Vec<(String, Vec<u8>)> {
    set.files
        .iter()
        .zip(files)
        .map(|(archive, bytes)| (format!("/{}/{}", set.name, archive.name), bytes.clone()))
        .collect()
}

/// A `.tar.gz` of these files, with their folders, deterministic.
pub fn tar_gz(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut folders: Vec<&str> = files
        .iter()
        .filter_map(|(p, _)| p.rsplit_once('/').map(|(d, _)| d))
        .collect();
    folders.dedup();
    for folder in folders {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        builder
            .append_data(&mut header, format!("{folder}/"), std::io::empty())
            .unwrap();
    }
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(bytes.len() as u64);
        builder.append_data(&mut header, path, bytes.as_slice()).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// `n` CIFAR records: the label bytes `labels(i)`, then 3,072 pixel bytes
/// (a different stream for each `salt`) that do not compress (so that a slow server is slow for long enough).
pub fn cifar_records(n: usize, salt: u64, labels: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    (0..n)
        .flat_map(|i| {
            let mut record = labels(i);
            let mut x = (salt * 1000 + i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            record.extend((0..3072).map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }));
            record
        })
        .collect()
}

/// CIFAR-10's binary archive in its real layout, with 3 images per batch.
pub fn cifar10_archive() -> Vec<u8> {
    let top = "cifar-10-batches-bin";
    let mut files = vec![(
        format!("{top}/batches.meta.txt"),
        b"airplane\nautomobile\n".to_vec(),
    )];
    for batch in 1..=5 {
        let records = cifar_records(3, batch as u64, |i| vec![((batch * 3 + i) % 10) as u8]);
        files.push((format!("{top}/data_batch_{batch}.bin"), records));
    }
    files.push((
        format!("{top}/test_batch.bin"),
        cifar_records(2, 6, |i| vec![i as u8]),
    ));
    files.push((format!("{top}/readme.html"), b"<html></html>".to_vec()));
    tar_gz(&files)
}

/// CIFAR-100's binary archive in its real layout: 4 training and 2 test
/// images, labels (coarse, fine), and the two class-name files.
pub fn cifar100_archive() -> Vec<u8> {
    let top = "cifar-100-binary";
    let names = |n: usize, what: &str| {
        (0..n)
            .map(|i| format!("{what}{i}\n"))
            .collect::<String>()
            .into_bytes()
    };
    tar_gz(&[
        (format!("{top}/coarse_label_names.txt"), names(20, "coarse")),
        (format!("{top}/fine_label_names.txt"), names(100, "fine")),
        (
            format!("{top}/test.bin"),
            cifar_records(2, 7, |i| vec![i as u8, 50 + i as u8]),
        ),
        (
            format!("{top}/train.bin"),
            cifar_records(4, 8, |i| vec![19 - i as u8, 99 - i as u8]),
        ),
    ])
}
