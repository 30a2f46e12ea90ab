//! OpenID Connect sign-in against a real provider on loopback (panva's
//! oidc-provider, OpenID Certified, run by Node.js): a user the provider
//! puts in a mapped group signs in with the role and tenant its claims
//! give; one in no mapped group is refused; both are in the audit trail.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

struct Provider(Child);

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SECRET: &str = "a-test-secret-of-enough-length";

fn provider(port: u16, redirect: &str, dir: &Path) -> Provider {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc_provider.mjs");
    let log = dir.join("idp.log");
    let child = Command::new("node")
        .arg(script)
        .args([&port.to_string(), redirect, SECRET])
        .env("NODE_PATH", node_modules())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs the OpenID provider");
    let p = Provider(child);
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .starts_with("listening")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the OpenID provider did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    p
}

fn sign_in(base: &str, user: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/oidc_signin.py");
    let out = Command::new(python())
        .arg(script)
        .args([base, user])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(text.trim()).unwrap()
}

#[test]
fn openid_connect_sign_in_maps_claims_to_roles_and_refuses_the_unmapped() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("data");
    let (idp_port, vakt_port) = (free_port(), free_port());
    let redirect = format!("http://127.0.0.1:{vakt_port}/api/v1/auth/oidc/callback");
    let cfg = d.path().join("vakt.yml");
    std::fs::write(
        &cfg,
        format!(
            "oidc:\n  issuer: http://127.0.0.1:{idp_port}\n  client_id: vakt\n  client_secret: {SECRET}\n  redirect_url: {redirect}\n  roles:\n    - {{value: vakt-cert, role: cert-analyst}}\n    - {{value: vakt-privacy, role: privacy-officer}}\n"
        ),
    )
    .unwrap();
    let admin = role_token(&dir, "admin");
    let _idp = provider(idp_port, &redirect, d.path());
    let r = rules(d.path());
    let s = Server::start_at(
        &dir,
        &format!("127.0.0.1:{vakt_port}"),
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--analytics",
            "none",
            "--rules",
            r.to_str().unwrap(),
        ],
    );
    let base = s.url();

    // A privacy officer of one trust, by the provider's groups and tenant claims.
    let kari = sign_in(&base, "kari");
    assert_eq!(kari["status"], 200, "{kari}");
    assert_eq!(kari["cookie"], true);
    let b = &kari["body"];
    assert_eq!(
        (b["who"].as_str(), b["role"].as_str(), b["tenant"].as_str()),
        (Some("oidc:kari"), Some("privacy-officer"), Some("ous"))
    );
    let session = bearer(b["session"].as_str().unwrap());
    let (code, me) = request(
        &s.addr,
        "GET",
        "/api/v1/auth/me",
        &[("Authorization", &session)],
        b"",
    )
    .unwrap();
    assert_eq!(code, 200, "{me}");
    assert!(
        me.contains("\"oidc:kari\"") && me.contains("\"ous\""),
        "{me}"
    );
    // Its role is the provider's: it may reveal (404: nothing to reveal),
    // not administer.
    let (code, _) = request(
        &s.addr,
        "POST",
        "/api/v1/patients/pt-0000000000000000/reveal",
        &[("Authorization", &session)],
        br#"{"reason":"a sign-in test, case 0"}"#,
    )
    .unwrap();
    assert_eq!(code, 404);
    let (code, _) = request(
        &s.addr,
        "GET",
        "/api/v1/users",
        &[("Authorization", &session)],
        b"",
    )
    .unwrap();
    assert_eq!(code, 403);

    // A CERT analyst sees every tenant.
    let cert = sign_in(&base, "cert1");
    assert_eq!(cert["body"]["role"], "cert-analyst", "{cert}");
    assert!(cert["body"]["tenant"].is_null(), "{cert}");

    // In no mapped group: refused, no session.
    let ola = sign_in(&base, "ola");
    assert_eq!(ola["status"], 401, "{ola}");
    assert_eq!(ola["cookie"], false);
    // A callback for a sign-in never begun here: refused.
    let (code, _) = request(
        &s.addr,
        "GET",
        "/api/v1/auth/oidc/callback?code=x&state=forged",
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(code, 401);

    // The trail has every sign-in, granted and refused.
    let (code, trail) = request(
        &s.addr,
        "GET",
        "/api/v1/audit?action=sign-in",
        &[("Authorization", &bearer(admin.trim()))],
        b"",
    )
    .unwrap();
    assert_eq!(code, 200);
    let trail: serde_json::Value = serde_json::from_str(&trail).unwrap();
    let seen: Vec<(String, String)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["who"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for want in [("oidc:kari", "granted"), ("oidc:cert1", "granted")] {
        assert!(seen.contains(&(want.0.into(), want.1.into())), "{seen:?}");
    }
    assert_eq!(
        seen.iter().filter(|(_, o)| o == "refused").count(),
        2,
        "{seen:?}"
    );
    s.stop();
}
