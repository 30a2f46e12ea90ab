//! The site model: how the region's hosts, accounts and addresses are told
//! apart — which addresses are the region's own, and the names under which
//! hosts and accounts compare (`WS-0012.helse.local` and `ws-0012` are one
//! host; `HELSE\\JaPed103` and `japed103@helse.local` one account).

/// Whether an address is the region's own: private, loopback, link-local
/// or unique-local.
pub use vakt_core::net::internal;

/// An account name as incidents compare them: lower case, without a
/// `DOMAIN\` prefix or `@realm` suffix; `None` for machine and built-in
/// accounts, which say nothing about who acted.
pub fn account_key(name: &str) -> Option<String> {
    let n = name.trim();
    let n = n.rsplit('\\').next().unwrap_or(n);
    let n = n.split('@').next().unwrap_or(n).to_lowercase();
    let builtin = matches!(
        n.as_str(),
        "" | "-"
            | "system"
            | "local service"
            | "network service"
            | "anonymous logon"
            | "localsystem"
            | "nt authority\\system"
            | "dwm-1"
            | "umfd-0"
    );
    (!builtin && !n.ends_with('$')).then_some(n)
}

/// A host name as incidents compare them: lower case, without the DNS domain.
pub fn host_key(name: &str) -> String {
    let n = name.trim().to_lowercase();
    n.split('.').next().unwrap_or(&n).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_compare_without_domain_and_builtins_are_left_out() {
        assert_eq!(account_key("HELSE\\JaPed103").as_deref(), Some("japed103"));
        assert_eq!(
            account_key("japed103@helse.local").as_deref(),
            Some("japed103")
        );
        assert_eq!(account_key("NT AUTHORITY\\SYSTEM"), None);
        assert_eq!(account_key("WS-0012$"), None);
        assert_eq!(account_key("-"), None);
        assert_eq!(host_key("WS-AHUS-0012.helse.local"), "ws-ahus-0012");
    }
}
