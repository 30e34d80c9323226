//! Connections made silent the way a vanished host's are: an nftables rule drops every packet of
//! them, both ways, so not even the kernel answers (root and `nft`: `scripts/lib.sh` installs it). A
//! relay in user space could not do it: its kernel would still acknowledge every byte and every
//! keepalive probe. Used by the API tests and by the fault script (`backend/benches/faults`).

/// nftables rules of one test or fault, removed when dropped (a table of its own: tests run side by
/// side). A process killed before that leaves its `chap_cut_*` table; `scripts/test` removes those
/// before the PostgreSQL + Redis pass.
pub struct PacketFilter {
    table: String,
}

fn nft(args: &[&str]) {
    let out = std::process::Command::new("nft")
        .args(args)
        .output()
        .expect("nft (root and nftables: scripts/lib.sh installs it)");
    assert!(
        out.status.success(),
        "nft {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PacketFilter {
    pub fn install() -> PacketFilter {
        let table = format!(
            "chap_cut_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        nft(&["add", "table", "inet", &table]);
        nft(&[
            "add",
            "chain",
            "inet",
            &table,
            "input",
            "{ type filter hook input priority 0; }",
        ]);
        PacketFilter { table }
    }

    /// Every packet of the TCP connection between local ports `a` and `b`, both ways, is dropped.
    pub fn drop_connection(&self, a: u16, b: u16) {
        for (from, to) in [(a, b), (b, a)] {
            nft(&[
                "add",
                "rule",
                "inet",
                &self.table,
                "input",
                "tcp",
                "sport",
                &from.to_string(),
                "tcp",
                "dport",
                &to.to_string(),
                "drop",
            ]);
        }
    }
}

impl Drop for PacketFilter {
    fn drop(&mut self) {
        let _ = std::process::Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

/// The local ports of this process's TCP connections to `port`.
pub fn local_ports_to(port: u16) -> Vec<u16> {
    chap_scheduler::db::dead_peers::sockets_to(port)
        .expect("this process's sockets")
        .iter()
        .filter_map(|s| rustix::net::getsockname(s).ok())
        .filter_map(|a| std::net::SocketAddr::try_from(a).ok())
        .map(|a| a.port())
        .collect()
}
