//! Builds the web UI (`ui/` at the workspace root: Vite, Preact, htm, its
//! lock file committed) into `OUT_DIR` and writes the table of assets that
//! `src/ui.rs` embeds, so a fresh clone needs no manual step: `npm ci` when
//! `ui/node_modules` is missing or older than the lock file, then
//! `npm run build` (the county shapes, then `vite build`).
//!
//! Without Node.js and npm the service still builds: the UI's place holds a
//! page that says why it is missing (and the build prints a warning).
//! `VAKT_UI_REQUIRED=1` turns that into a build error instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let ui = manifest.join("../../ui");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    let dist = out.join("ui");
    for p in [
        "src",
        "scripts",
        "index.html",
        "package.json",
        "package-lock.json",
        "vite.config.js",
    ] {
        println!("cargo:rerun-if-changed={}", ui.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=VAKT_GEO_DIR");
    println!("cargo:rerun-if-env-changed=VAKT_UI_REQUIRED");
    let geo = env::var_os("VAKT_GEO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../../../shared/data/geo-norway"));
    println!(
        "cargo:rerun-if-changed={}",
        geo.join("kommuner-2024-S.geojson").display()
    );
    let built = build(&ui, &dist, &geo);
    let files = match built {
        Ok(()) => walk(&dist),
        Err(why) => {
            if env::var_os("VAKT_UI_REQUIRED").is_some_and(|v| v != "0") {
                panic!("the web UI could not be built: {why}");
            }
            println!(
                "cargo:warning=the web UI was not built ({why}); vakt serve will say so at /ui/"
            );
            let _ = fs::remove_dir_all(&dist);
            fs::create_dir_all(&dist).expect("OUT_DIR is writable");
            let page = format!(
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>vakt</title>\
                 <h1>vakt: no web UI in this build</h1><p>The web UI could not be built when \
                 this binary was: {}. Install Node.js (20.19 or later) and npm, and build again; \
                 the API under /api/v1 works without it.</p></html>",
                html_escape(&why)
            );
            fs::write(dist.join("index.html"), page).expect("OUT_DIR is writable");
            walk(&dist)
        }
    };
    let mut table = String::from(
        "/// The UI's files: path under `/ui/`, bytes.\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for f in files {
        let rel = f.strip_prefix(&dist).expect("under dist");
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        table.push_str(&format!(
            "    ({:?}, include_bytes!({:?})),\n",
            name,
            f.display().to_string()
        ));
    }
    table.push_str("];\n");
    fs::write(out.join("ui_files.rs"), table).expect("OUT_DIR is writable");
}

fn build(ui: &Path, dist: &Path, geo: &Path) -> Result<(), String> {
    let npm = if cfg!(windows) { "npm.cmd" } else { "npm" };
    let lock = ui.join("package-lock.json");
    let installed = ui.join("node_modules/.package-lock.json");
    let stale = match (fs::metadata(&lock), fs::metadata(&installed)) {
        (Ok(l), Ok(i)) => match (l.modified(), i.modified()) {
            (Ok(l), Ok(i)) => l > i,
            _ => true,
        },
        _ => true,
    };
    if stale {
        run(Command::new(npm)
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(ui))?;
    }
    run(Command::new(npm)
        .args(["run", "--silent", "build", "--", "--outDir"])
        .arg(dist)
        .arg("--emptyOutDir")
        .env("VAKT_GEO_DIR", geo)
        .current_dir(ui))
}

fn run(c: &mut Command) -> Result<(), String> {
    let what = format!("{c:?}");
    match c.output() {
        Err(e) => Err(format!("{what}: {e}")),
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let out = String::from_utf8_lossy(&o.stdout);
            Err(format!(
                "{what} failed ({}): {}{}",
                o.status,
                out.trim(),
                err.trim()
            ))
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                v.push(p);
            }
        }
    }
    v.sort();
    v
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
