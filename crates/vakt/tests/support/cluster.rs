//! Real servers of a test's own on loopback: NATS (JetStream) and
//! PostgreSQL 15, as Debian installs them (scripts/test installs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A child process stopped however the test ends.
pub struct Proc {
    pub child: Option<Child>,
    pub what: String,
}

impl Proc {
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    pub fn term(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(30) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
            panic!("{} did not stop on SIGTERM in 30 s", self.what);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn wait_port(port: u16, what: &str) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        // A node loads the rules before it listens: on a busy 2-core
        // machine running other tests, that can take a minute.
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{what} did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn nats_server() -> PathBuf {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("Debian's nats-server is not installed: run scripts/test")
}

pub fn nats(dir: &Path, port: u16, extra: &[String]) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let log = std::fs::File::create(dir.join("nats.log")).unwrap();
    let child = Command::new(nats_server())
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    wait_port(port, "nats-server");
    Proc {
        child: Some(child),
        what: "nats-server".into(),
    }
}

/// A PostgreSQL 15 cluster of the test's own.
pub struct Pg {
    pub data: PathBuf,
    pub port: u16,
}

pub fn pg_bin(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/lib/postgresql/15/bin").join(name);
    assert!(
        p.exists(),
        "PostgreSQL 15 is not installed: run scripts/test"
    );
    p
}

pub fn as_postgres(cmd: &Path) -> Command {
    // PostgreSQL refuses to run as root: as root, run it as the postgres user.
    if unsafe_is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(cmd);
        c
    } else {
        Command::new(cmd)
    }
}

pub fn unsafe_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Pg {
    pub fn start(dir: &Path) -> Pg {
        let root = dir.join("pg");
        std::fs::create_dir_all(&root).unwrap();
        if unsafe_is_root() {
            // The temporary folder is root's; PostgreSQL's user needs its own.
            for d in [dir, &root] {
                let _ = Command::new("chmod").arg("755").arg(d).status();
            }
            let s = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&root)
                .status()
                .unwrap();
            assert!(s.success());
        }
        let data = root.join("data");
        let out = as_postgres(&pg_bin("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "vakt", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pg = Pg {
            data,
            port: free_port(),
        };
        pg.ctl("start");
        pg
    }

    pub fn ctl(&self, what: &str) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.parent().unwrap().display()
        );
        let out = as_postgres(&pg_bin("pg_ctl"))
            .args(["-D"])
            .arg(&self.data)
            .args(["-o", &opts, "-l"])
            .arg(self.data.parent().unwrap().join("log"))
            .args(["-w", "-m", "fast", what])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs SQL with psql; its output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new(pg_bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "vakt",
                "-d",
                "postgres",
                "-Atc",
                sql,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    pub fn conf(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=vakt dbname=postgres",
            self.port
        )
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = as_postgres(&pg_bin("pg_ctl"))
            .args(["-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
