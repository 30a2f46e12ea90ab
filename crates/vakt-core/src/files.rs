//! Walking folders in a stable order.

use std::path::{Path, PathBuf};

/// Every file under `p` (or `p` itself when it is a file), folders walked
/// recursively in name order; files for which `keep` is false are left out.
/// `Err` when `p` or a folder under it cannot be read.
pub fn walk(p: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            if e.is_dir() || keep(&e) {
                walk(&e, keep, out)?;
            }
        }
    } else {
        std::fs::metadata(p)?;
        out.push(p.to_owned());
    }
    Ok(())
}
