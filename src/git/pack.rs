//! Writing a rendered tree into the object database as one pack, streamed:
//! each cluster's files are hashed, compressed and appended by the worker
//! that rendered them, its directories become tree objects at once, and
//! only one entry per cluster (`clusters/<c>`, `bootstrap/<c>.yaml`,
//! `argocd/<c>`) stays in memory until the top trees are written.
//!
//! Git's pack format (version 2, objects stored whole, zlib-compressed)
//! and its index (version 2) are written as git documents them
//! (gitformat-pack); `git verify-pack` and `git fsck` check the result in
//! the tests.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use gix::bstr::ByteSlice;
use gix::objs::tree::{Entry, EntryKind, EntryMode};
use gix::objs::{Kind, WriteTo};
use gix::ObjectId;

use crate::emit::write::{Sink, WriteError};

fn fail(what: &str, e: impl std::fmt::Display) -> WriteError {
    WriteError::Io(format!("cannot {what}: {e}"))
}

/// A pack being written into `objects/pack/`; [`PackWriter::finish`]
/// writes its index and moves both into place (a pack without its index
/// is invisible to git, so a killed run leaves only a temporary file).
pub struct PackWriter {
    dir: PathBuf,
    tmp: Temporary,
    inner: Mutex<Inner>,
}

struct Inner {
    file: std::io::BufWriter<fs::File>,
    offset: u64,
    /// (id, offset, crc32 of the entry as stored).
    entries: Vec<(ObjectId, u64, u32)>,
    written: HashSet<ObjectId>,
}

/// The id of an object.
pub fn hash(kind: Kind, data: &[u8]) -> Result<ObjectId, WriteError> {
    gix::objs::compute_hash(gix::hash::Kind::Sha1, kind, data)
        .map_err(|e| fail("hash an object", e))
}

/// The compression level of objects: the fastest, as the rendered branch
/// is written on every push (`git gc` recompresses when it repacks).
fn level() -> gix::zlib::Compression {
    gix::zlib::Compression::new(1).unwrap_or_default()
}

thread_local! {
    /// One compressor per thread, reset for each object: setting one up
    /// costs more than compressing a small file.
    static DEFLATE: std::cell::RefCell<gix::zlib::stream::deflate::Compress> =
        std::cell::RefCell::new(gix::zlib::stream::deflate::Compress::new(level()));
}

/// Append `data`, zlib-compressed, to `out`.
fn deflate(data: &[u8], out: &mut Vec<u8>) -> Result<(), WriteError> {
    use gix::zlib::stream::deflate::FlushCompress;
    use gix::zlib::Status;
    DEFLATE.with(|z| {
        let mut z = z.borrow_mut();
        z.reset();
        let (in0, out0, start) = (z.total_in(), z.total_out(), out.len());
        // zlib's bound for one call: the data, plus a little per block.
        let mut room = data.len() + data.len() / 1000 + 64;
        loop {
            let done_in = (z.total_in() - in0) as usize;
            let done_out = (z.total_out() - out0) as usize;
            out.resize(start + done_out + room, 0);
            let status = z
                .compress(
                    &data[done_in..],
                    &mut out[start + done_out..],
                    FlushCompress::Finish,
                )
                .map_err(|e| fail("compress an object", e))?;
            if status == Status::StreamEnd {
                out.truncate(start + (z.total_out() - out0) as usize);
                return Ok(());
            }
            room *= 2;
        }
    })
}

/// The bytes of a pack entry's header: type and size.
fn entry_header(kind: Kind, size: usize) -> Vec<u8> {
    let t: u8 = match kind {
        Kind::Commit => 1,
        Kind::Tree => 2,
        Kind::Blob => 3,
        Kind::Tag => 4,
    };
    let mut size = size as u64;
    let mut out = vec![(t << 4) | (size & 0x0f) as u8];
    size >>= 4;
    while size > 0 {
        *out.last_mut().expect("one byte") |= 0x80;
        out.push((size & 0x7f) as u8);
        size >>= 7;
    }
    out
}

impl PackWriter {
    /// Start a pack in the objects directory of `repo`.
    pub fn new(repo: &gix::Repository) -> Result<Self, WriteError> {
        PackWriter::in_dir(&repo.common_dir().join("objects").join("pack"))
    }

    /// Start a pack in `dir` (created when missing).
    pub fn in_dir(dir: &std::path::Path) -> Result<Self, WriteError> {
        let dir = dir.to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| fail(&format!("create {}", dir.display()), e))?;
        let tmp = dir.join(format!("tmp_fleetc_{}.pack", std::process::id()));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| fail(&format!("create {}", tmp.display()), e))?;
        let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
        // The object count is filled in by `finish`.
        file.write_all(b"PACK\0\0\0\x02\0\0\0\0")
            .map_err(|e| fail("write the pack", e))?;
        Ok(PackWriter {
            dir,
            tmp: Temporary(tmp),
            inner: Mutex::new(Inner {
                file,
                offset: 12,
                entries: Vec::new(),
                written: HashSet::new(),
            }),
        })
    }

    /// Add an object (hashed and compressed on the calling thread); returns its id.
    pub fn add(&self, kind: Kind, data: &[u8]) -> Result<ObjectId, WriteError> {
        let id = hash(kind, data)?;
        self.store(kind, data, id)?;
        Ok(id)
    }

    /// Add an object whose id is `id` ([`hash`]), unless this pack has it.
    pub fn store(&self, kind: Kind, data: &[u8], id: ObjectId) -> Result<(), WriteError> {
        let mut stored = entry_header(kind, data.len());
        deflate(data, &mut stored)?;
        let crc = crc32fast::hash(&stored);
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !inner.written.insert(id) {
            return Ok(());
        }
        inner
            .file
            .write_all(&stored)
            .map_err(|e| fail("write the pack", e))?;
        let offset = inner.offset;
        inner.entries.push((id, offset, crc));
        inner.offset += stored.len() as u64;
        Ok(())
    }

    /// Add the file at `path` as an object, streamed: read, hashed and
    /// compressed a piece at a time, so that it is never in memory whole.
    pub fn store_file(&self, kind: Kind, path: &std::path::Path) -> Result<ObjectId, WriteError> {
        let what = |e: std::io::Error| fail(&format!("read {}", path.display()), e);
        let mut f = fs::File::open(path).map_err(what)?;
        let size = f.metadata().map_err(what)?.len();
        let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
        h.update(format!("{} {size}\0", kind.as_bytes().to_str_lossy()).as_bytes());
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let header = entry_header(kind, size as usize);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        let offset = inner.offset;
        inner
            .file
            .write_all(&header)
            .map_err(|e| fail("write the pack", e))?;
        let mut out = Counting {
            inner: &mut inner.file,
            crc: &mut crc,
            n: 0,
        };
        {
            let mut z = gix::zlib::stream::deflate::Write::new(&mut out, level());
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let got = f.read(&mut buf).map_err(what)?;
                if got == 0 {
                    break;
                }
                h.update(&buf[..got]);
                z.write_all(&buf[..got])
                    .map_err(|e| fail("write the pack", e))?;
            }
            z.flush().map_err(|e| fail("write the pack", e))?;
        }
        let written = header.len() as u64 + out.n;
        let id = h.try_finalize().map_err(|e| fail("hash an object", e))?;
        if !inner.written.insert(id) {
            // This pack has it already: take the copy back out.
            inner
                .file
                .flush()
                .and_then(|()| inner.file.get_ref().set_len(offset))
                .and_then(|()| inner.file.seek(std::io::SeekFrom::Start(offset)).map(drop))
                .map_err(|e| fail("write the pack", e))?;
            return Ok(id);
        }
        inner.entries.push((id, offset, crc.finalize()));
        inner.offset += written;
        Ok(id)
    }

    /// Write the pack's count and checksum and its index, and move both
    /// into place as `pack-<checksum>.pack` and `.idx`; returns that name
    /// (None, and nothing written, when no object was added).
    pub fn finish(self) -> Result<Option<String>, WriteError> {
        let Inner { file, entries, .. } =
            self.inner.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut file = file
            .into_inner()
            .map_err(|e| fail("write the pack", e.error()))?;
        if entries.is_empty() {
            return Ok(None);
        }
        let n = u32::try_from(entries.len()).map_err(|e| fail("count the objects", e))?;
        file.seek(std::io::SeekFrom::Start(8))
            .and_then(|_| file.write_all(&n.to_be_bytes()))
            .and_then(|()| file.seek(std::io::SeekFrom::Start(0)).map(drop))
            .map_err(|e| fail("write the pack", e))?;
        let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let got = file.read(&mut buf).map_err(|e| fail("read the pack", e))?;
            if got == 0 {
                break;
            }
            h.update(&buf[..got]);
        }
        let sum = h.try_finalize().map_err(|e| fail("hash the pack", e))?;
        file.write_all(sum.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| fail("write the pack", e))?;
        drop(file);
        let idx = index(entries, sum)?;
        let name = format!("pack-{}", sum.to_hex());
        let (pack_path, idx_path) = (
            self.dir.join(format!("{name}.pack")),
            self.dir.join(format!("{name}.idx")),
        );
        let idx_tmp = Temporary(
            self.dir
                .join(format!("tmp_fleetc_{}.idx", std::process::id())),
        );
        fs::write(&idx_tmp.0, idx)
            .map_err(|e| fail(&format!("write {}", idx_tmp.0.display()), e))?;
        fs::rename(&self.tmp.0, &pack_path)
            .map_err(|e| fail(&format!("move {}", pack_path.display()), e))?;
        fs::rename(&idx_tmp.0, &idx_path)
            .map_err(|e| fail(&format!("move {}", idx_path.display()), e))?;
        Ok(Some(name))
    }
}

/// A writer that counts and checksums what goes through it.
struct Counting<'a, W: Write> {
    inner: &'a mut W,
    crc: &'a mut crc32fast::Hasher,
    n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A temporary file, removed when dropped (after a rename there is nothing to remove).
struct Temporary(PathBuf);

impl Drop for Temporary {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A version 2 pack index of `entries`.
fn index(mut entries: Vec<(ObjectId, u64, u32)>, pack: ObjectId) -> Result<Vec<u8>, WriteError> {
    entries.sort_unstable_by_key(|e| e.0);
    let mut out = Vec::with_capacity(8 + 1024 + entries.len() * 28 + 40);
    out.extend_from_slice(b"\xfftOc\0\0\0\x02");
    let mut fanout = [0u32; 256];
    for (id, _, _) in &entries {
        fanout[id.as_bytes()[0] as usize] += 1;
    }
    let mut total = 0u32;
    for f in fanout {
        total += f;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for (id, _, _) in &entries {
        out.extend_from_slice(id.as_bytes());
    }
    for (_, _, crc) in &entries {
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut large = Vec::new();
    for (_, offset, _) in &entries {
        if *offset < 0x8000_0000 {
            out.extend_from_slice(&(*offset as u32).to_be_bytes());
        } else {
            let i = u32::try_from(large.len()).map_err(|e| fail("index the pack", e))?;
            out.extend_from_slice(&(0x8000_0000 | i).to_be_bytes());
            large.push(*offset);
        }
    }
    for o in large {
        out.extend_from_slice(&o.to_be_bytes());
    }
    out.extend_from_slice(pack.as_bytes());
    let mut h = gix::hash::hasher(gix::hash::Kind::Sha1);
    h.update(&out);
    let sum = h.try_finalize().map_err(|e| fail("hash the index", e))?;
    out.extend_from_slice(sum.as_bytes());
    Ok(out)
}

/// Write `entries` as one tree object, unless it is among `old`.
fn write_tree(
    pack: &PackWriter,
    mut entries: Vec<Entry>,
    old: &HashSet<ObjectId>,
) -> Result<ObjectId, WriteError> {
    entries.sort();
    let tree = gix::objs::Tree { entries };
    let mut buf = Vec::new();
    tree.write_to(&mut buf)
        .map_err(|e| fail("write a tree", e))?;
    let id = hash(Kind::Tree, &buf)?;
    if !old.contains(&id) {
        pack.store(Kind::Tree, &buf, id)?;
    }
    Ok(id)
}

/// A directory being built from file paths.
#[derive(Default)]
struct Dir {
    files: BTreeMap<String, ObjectId>,
    dirs: BTreeMap<String, Dir>,
}

impl Dir {
    fn insert(&mut self, path: &str, id: ObjectId) {
        match path.split_once('/') {
            Some((d, rest)) => self.dirs.entry(d.to_string()).or_default().insert(rest, id),
            None => {
                self.files.insert(path.to_string(), id);
            }
        }
    }

    /// Write this directory's trees, innermost first, except those among
    /// `old`; returns its own.
    fn write(self, pack: &PackWriter, old: &HashSet<ObjectId>) -> Result<ObjectId, WriteError> {
        let mut entries = Vec::with_capacity(self.files.len() + self.dirs.len());
        for (name, id) in self.files {
            entries.push(Entry {
                mode: EntryMode::from(EntryKind::Blob),
                filename: name.into(),
                oid: id,
            });
        }
        for (name, d) in self.dirs {
            entries.push(Entry {
                mode: EntryMode::from(EntryKind::Tree),
                filename: name.into(),
                oid: d.write(pack, old)?,
            });
        }
        write_tree(pack, entries, old)
    }
}

/// What a rendered tree leaves once its clusters are written: per top
/// entry (`inventory.json`) or second-level entry (`clusters/<c>`,
/// `bootstrap/<c>.yaml`), its mode and object.
pub type Slots = BTreeMap<String, (EntryKind, ObjectId)>;

/// A [`Sink`] writing every file into a pack as it comes: each `put` (one
/// cluster's files, or the fleet's) becomes blobs and the trees below the
/// second level, leaving one [`Slots`] entry per second-level path;
/// appended files (`inventory.json`) are collected and written at the end.
pub struct TreeSink<'a> {
    pub pack: &'a PackWriter,
    /// The tree this one replaces: what a slot held there is not written again.
    old: Option<(gix::ThreadSafeRepository, ObjectId)>,
    slots: Mutex<Slots>,
    /// Files written in pieces (`inventory.json`), each into a temporary
    /// file beside the pack, so that the largest file of the tree is never
    /// in memory whole.
    streams: Mutex<BTreeMap<String, (Temporary, std::io::BufWriter<fs::File>)>>,
}

impl<'a> TreeSink<'a> {
    /// A sink into `pack`; objects the slots of `old` (a repository and a
    /// tree in it) hold are not written again.
    pub fn new(pack: &'a PackWriter, old: Option<(gix::ThreadSafeRepository, ObjectId)>) -> Self {
        TreeSink {
            pack,
            old,
            slots: Mutex::default(),
            streams: Mutex::default(),
        }
    }

    /// Write the appended files; returns the slots.
    pub fn finish(self) -> Result<Slots, WriteError> {
        let mut slots = self.slots.into_inner().unwrap_or_else(|e| e.into_inner());
        for (path, (tmp, w)) in self.streams.into_inner().unwrap_or_else(|e| e.into_inner()) {
            let f = w
                .into_inner()
                .map_err(|e| fail("write a temporary file", e.error()))?;
            drop(f);
            let id = self.pack.store_file(Kind::Blob, &tmp.0)?;
            slots.insert(path, (EntryKind::Blob, id));
        }
        Ok(slots)
    }
}

/// The second-level path a file lies under (`clusters/c/x/y.yaml` →
/// `clusters/c`), or the file itself at the first two levels.
fn slot_of(path: &str) -> (&str, Option<&str>) {
    let mut it = path.match_indices('/');
    match (it.next(), it.next()) {
        (Some(_), Some((second, _))) => (&path[..second], Some(&path[second + 1..])),
        _ => (path, None),
    }
}

impl TreeSink<'_> {
    /// Every object below `slots` in the old tree.
    fn old_objects(&self, slots: &[&str]) -> Result<HashSet<ObjectId>, WriteError> {
        let mut out = HashSet::new();
        let Some((sync, root)) = &self.old else {
            return Ok(out);
        };
        let repo = sync.to_thread_local();
        let root = repo
            .find_tree(*root)
            .map_err(|e| fail("read the branch's tree", e))?;
        let mut todo = Vec::new();
        for slot in slots {
            let entry = root
                .lookup_entry_by_path(slot)
                .map_err(|e| fail("read the branch's tree", e))?;
            if let Some(e) = entry {
                out.insert(e.object_id());
                if e.mode().is_tree() {
                    todo.push(e.object_id());
                }
            }
        }
        while let Some(id) = todo.pop() {
            let tree = repo
                .find_object(id)
                .map_err(|e| fail("read the branch's tree", e))?;
            let tree = tree
                .try_into_tree()
                .map_err(|e| fail("read the branch's tree", e))?;
            for e in tree.iter() {
                let e = e.map_err(|e| fail("read the branch's tree", e))?;
                out.insert(e.oid().to_owned());
                if e.mode().is_tree() {
                    todo.push(e.oid().to_owned());
                }
            }
        }
        Ok(out)
    }
}

impl Sink for TreeSink<'_> {
    fn put(&self, files: &[(String, Vec<u8>)]) -> Result<(), WriteError> {
        let mut slots: Vec<&str> = files.iter().map(|(p, _)| slot_of(p).0).collect();
        slots.dedup();
        let old = self.old_objects(&slots)?;
        let mut dirs: BTreeMap<&str, Dir> = BTreeMap::new();
        let mut new = Vec::new();
        for (path, bytes) in files {
            let id = hash(Kind::Blob, bytes)?;
            if !old.contains(&id) {
                self.pack.store(Kind::Blob, bytes, id)?;
            }
            match slot_of(path) {
                (slot, Some(rest)) => dirs.entry(slot).or_default().insert(rest, id),
                (slot, None) => new.push((slot.to_string(), (EntryKind::Blob, id))),
            }
        }
        for (slot, d) in dirs {
            new.push((
                slot.to_string(),
                (EntryKind::Tree, d.write(self.pack, &old)?),
            ));
        }
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(new);
        Ok(())
    }

    fn append(&self, path: &str, bytes: &[u8]) -> Result<(), WriteError> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if !streams.contains_key(path) {
            let n = streams.len();
            let tmp = Temporary(
                self.pack
                    .dir
                    .join(format!("tmp_fleetc_{}_{n}.stream", std::process::id())),
            );
            let f = fs::File::create(&tmp.0)
                .map_err(|e| fail(&format!("create {}", tmp.0.display()), e))?;
            streams.insert(
                path.to_string(),
                (tmp, std::io::BufWriter::with_capacity(1 << 20, f)),
            );
        }
        let (_, w) = streams.get_mut(path).expect("inserted above");
        w.write_all(bytes)
            .map_err(|e| fail("write a temporary file", e))
    }
}

/// Write the trees above the slots (the first level, then the root);
/// returns the root tree.
pub fn write_root(pack: &PackWriter, slots: Slots) -> Result<ObjectId, WriteError> {
    let mut top: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    let mut root = Vec::new();
    for (path, (kind, id)) in slots {
        let entry = |name: &str| Entry {
            mode: EntryMode::from(kind),
            filename: name.into(),
            oid: id,
        };
        match path.split_once('/') {
            Some((dir, name)) => top.entry(dir.to_string()).or_default().push(entry(name)),
            None => root.push(entry(&path)),
        }
    }
    for (dir, entries) in top {
        root.push(Entry {
            mode: EntryMode::from(EntryKind::Tree),
            filename: dir.into(),
            oid: write_tree(pack, entries, &HashSet::new())?,
        });
    }
    write_tree(pack, root, &HashSet::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers_carry_type_and_size() {
        assert_eq!(entry_header(Kind::Blob, 5), vec![0x35]);
        assert_eq!(entry_header(Kind::Tree, 16), vec![0xa0, 0x01]);
        assert_eq!(entry_header(Kind::Commit, 0x1234), vec![0x94, 0xa3, 0x02]);
    }

    #[test]
    fn deflate_round_trips_with_one_compressor_reused() {
        for data in [
            &b""[..],
            b"hello",
            &[7u8; 100_000],
            &(0..=255u8).cycle().take(70_000).collect::<Vec<_>>(),
        ] {
            let mut out = vec![9, 9];
            deflate(data, &mut out).expect("deflate");
            assert_eq!(&out[..2], &[9, 9]);
            let mut back = vec![0u8; data.len() + 16];
            let mut rd = std::io::BufReader::new(&out[2..]);
            let mut state = gix::zlib::Decompress::new();
            let mut got = 0;
            loop {
                let n = gix::zlib::stream::inflate::read(&mut rd, &mut state, &mut back[got..])
                    .expect("inflate");
                if n == 0 {
                    break;
                }
                got += n;
            }
            back.truncate(got);
            assert_eq!(back, data);
        }
    }

    #[test]
    fn slots_are_second_level_paths() {
        assert_eq!(slot_of("inventory.json"), ("inventory.json", None));
        assert_eq!(slot_of("bootstrap/a.yaml"), ("bootstrap/a.yaml", None));
        assert_eq!(slot_of("clusters/a/k.yaml"), ("clusters/a", Some("k.yaml")));
        assert_eq!(
            slot_of("clusters/a/x/y.yaml"),
            ("clusters/a", Some("x/y.yaml"))
        );
    }
}
