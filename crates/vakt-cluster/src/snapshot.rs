//! A partition's detector state, saved beside its checkpoint.
//!
//! Every `snapshot_ms` (and when a worker gives a partition back) the owner
//! saves what its detectors hold — the network streams' pair histories and
//! findings raised, the EHR facts, tallies and baselines, the matches kept
//! for Sigma correlations, the indicator and sensor alerts — as it stands
//! after a committed stream sequence, to
//! `shared_dir/state/<tenant>-<shard>/snapshot-<seq>.cbor` (written to a
//! temporary name, synced, renamed). A new owner loads the newest snapshot
//! at or below the committed sequence and reads the stream from the
//! message after it: it resumes without re-reading the partition's history
//! and without losing any window. A snapshot that cannot be loaded (damaged,
//! saved by other detectors or another rule set) is set aside with a
//! warning and the owner rebuilds the state from the stream as before.
//!
//! Detector state holds what the events on the bus hold (record ids,
//! identity numbers, account names), so a snapshot is sealed with
//! ChaCha20-Poly1305 under a key derived from the tenant's pseudonymisation
//! key, bound to its partition: unreadable without the key, and a damaged,
//! edited or another partition's file fails to open.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vakt_core::Detector;
use vakt_core::detector::{Blob, load_all, load_state, save_all, save_state};

/// The layout of a snapshot file.
const LAYOUT: u32 = 1;

/// Snapshots kept per partition (the newest and the one before).
const KEEP: usize = 2;

/// What a snapshot holds besides the detectors' state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// The last stream sequence the state includes (committed).
    pub seq: u64,
    /// The partition's stream time then (ns).
    pub now: Option<i64>,
    /// When the detectors were last advanced (ns).
    pub advanced: Option<i64>,
    /// Region-wide prevalence counts this partition had reported.
    pub reported: Vec<(String, u64)>,
}

#[derive(Serialize, Deserialize)]
struct File {
    layout: u32,
    /// The detectors, by name, in order.
    detectors: Vec<String>,
    position: Position,
    state: Vec<(String, Blob)>,
}

/// Where a partition's snapshots go.
pub fn dir(shared: &Path, tenant: &str, shard: i32) -> PathBuf {
    shared.join("state").join(format!("{tenant}-{shard}"))
}

fn name(seq: u64) -> String {
    format!("snapshot-{seq:020}.cbor")
}

fn seq_of(file: &str) -> Option<u64> {
    file.strip_prefix("snapshot-")?
        .strip_suffix(".cbor")?
        .parse()
        .ok()
}

/// What opens a file: "VKTS" and the layout.
const MAGIC: &[u8; 5] = b"VKTS\x01";

/// The key a partition's snapshots are sealed with, and the partition.
pub struct Seal {
    key: [u8; 32],
    partition: String,
}

impl Seal {
    /// The seal of a partition under a 32-byte key (see
    /// [`vakt_core::pseudo::Pseudonymiser::derive_key`]).
    pub fn new(key: [u8; 32], tenant: &str, shard: i32) -> Seal {
        Seal {
            key,
            partition: format!("{tenant}-{shard}"),
        }
    }

    fn aead(&self) -> Result<ring::aead::LessSafeKey, String> {
        ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, &self.key)
            .map(ring::aead::LessSafeKey::new)
            .map_err(|_| "snapshot key".to_owned())
    }

    fn seal(&self, mut plain: Vec<u8>) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| format!("random nonce: {e}"))?;
        self.aead()?
            .seal_in_place_append_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(self.partition.as_bytes()),
                &mut plain,
            )
            .map_err(|_| "sealing the snapshot failed".to_owned())?;
        let mut out = Vec::with_capacity(MAGIC.len() + 12 + plain.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        Ok(out)
    }

    fn open(&self, mut sealed: Vec<u8>) -> Result<Vec<u8>, String> {
        if sealed.len() < MAGIC.len() + 12 + 16 || &sealed[..MAGIC.len()] != MAGIC {
            return Err("not a sealed snapshot of this layout".into());
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&sealed[MAGIC.len()..MAGIC.len() + 12]);
        let body = &mut sealed[MAGIC.len() + 12..];
        let n = self
            .aead()?
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(self.partition.as_bytes()),
                body,
            )
            .map_err(|_| {
                "does not open with this partition's key (damaged, edited, another partition's or another key's)"
                    .to_owned()
            })?
            .len();
        Ok(sealed[MAGIC.len() + 12..MAGIC.len() + 12 + n].to_vec())
    }
}

/// Saves the detectors' state at `pos`, sealed; returns the file's size.
/// Older snapshots beyond the newest [`KEEP`] are removed.
pub fn save(
    dir: &Path,
    seal: &Seal,
    detectors: &[Box<dyn Detector>],
    pos: &Position,
) -> Result<u64, String> {
    let file = File {
        layout: LAYOUT,
        detectors: detectors.iter().map(|d| d.name().to_owned()).collect(),
        position: pos.clone(),
        state: save_all(detectors)?,
    };
    let bytes = seal.seal(save_state(&file)?)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join(name(pos.seq));
    let tmp = dir.join(format!(".{}.tmp", name(pos.seq)));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut all = list(dir);
    all.sort_unstable();
    for (_, old) in all.iter().rev().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(bytes.len() as u64)
}

fn list(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| {
            let n = e.file_name();
            seq_of(n.to_str()?).map(|s| (s, e.path()))
        })
        .collect()
}

/// Loads the newest snapshot at or below `committed` into `detectors`
/// (fresh, of the same configuration): its position, or `None` when there
/// is none that loads, and what was wrong with those that did not. A
/// snapshot that does not load is renamed `*.unloadable` (kept for a look,
/// never tried again) and the next older one is tried. Every detector's
/// load replaces its whole state, so a later snapshot that loads leaves no
/// trace of one that failed half-way; when none loads, the detectors may
/// hold part of a state and must be made anew.
pub fn load(
    dir: &Path,
    seal: &Seal,
    committed: u64,
    detectors: &mut [Box<dyn Detector>],
) -> (Option<Position>, Vec<String>) {
    let mut all: Vec<(u64, PathBuf)> = list(dir)
        .into_iter()
        .filter(|(s, _)| *s <= committed)
        .collect();
    all.sort_unstable();
    let mut problems = Vec::new();
    for (_, path) in all.into_iter().rev() {
        match load_one(&path, seal, detectors) {
            Ok(pos) => return (Some(pos), problems),
            Err(e) => {
                problems.push(format!("{}: {e}", path.display()));
                let mut aside = path.clone().into_os_string();
                aside.push(".unloadable");
                let _ = std::fs::rename(&path, aside);
            }
        }
    }
    (None, problems)
}

fn load_one(
    path: &Path,
    seal: &Seal,
    detectors: &mut [Box<dyn Detector>],
) -> Result<Position, String> {
    let bytes = seal.open(std::fs::read(path).map_err(|e| e.to_string())?)?;
    let f: File = load_state(&bytes)?;
    if f.layout != LAYOUT {
        return Err(format!("layout {} is not known here", f.layout));
    }
    let names: Vec<&str> = detectors.iter().map(|d| d.name()).collect();
    if f.detectors != names {
        return Err(format!(
            "saved by detectors {:?}, these are {names:?}",
            f.detectors
        ));
    }
    load_all(detectors, &f.state)?;
    Ok(f.position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_sequence_and_parse_back() {
        assert_eq!(seq_of(&name(42)), Some(42));
        assert!(name(9) < name(10));
        assert_eq!(seq_of("snapshot-1.cbor.unloadable"), None);
        assert_eq!(seq_of(".snapshot-00000000000000000001.cbor.tmp"), None);
    }

    #[test]
    fn snapshots_are_sealed_to_their_partition_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let seal = Seal::new([7; 32], "ous", 0);
        let detectors: Vec<Box<dyn Detector>> = Vec::new();
        let pos = Position {
            seq: 42,
            now: Some(1),
            advanced: None,
            reported: vec![("patient 01017012345".into(), 1)],
        };
        save(dir.path(), &seal, &detectors, &pos).unwrap();
        let file = dir.path().join(name(42));
        let raw = std::fs::read(&file).unwrap();
        assert!(
            !raw.windows(11).any(|w| w == b"01017012345"),
            "the snapshot holds text in clear"
        );
        let mut none: Vec<Box<dyn Detector>> = Vec::new();
        assert_eq!(load(dir.path(), &seal, 100, &mut none).0, Some(pos.clone()));
        // Beyond the checkpoint: not used.
        assert_eq!(load(dir.path(), &seal, 41, &mut none).0, None);
        // Another partition's seal, or another key: refused and set aside.
        save(dir.path(), &seal, &detectors, &pos).unwrap();
        let (got, problems) = load(dir.path(), &Seal::new([7; 32], "ous", 1), 100, &mut none);
        assert!(got.is_none() && problems.len() == 1, "{problems:?}");
        save(dir.path(), &seal, &detectors, &pos).unwrap();
        let mut edited = std::fs::read(&file).unwrap();
        let last = edited.len() - 1;
        edited[last] ^= 1;
        std::fs::write(&file, edited).unwrap();
        let (got, problems) = load(dir.path(), &seal, 100, &mut none);
        assert!(got.is_none() && problems.len() == 1, "{problems:?}");
        assert!(dir.path().join(format!("{}.unloadable", name(42))).exists());
    }
}
