//! `fail2ban-server`: the daemon (see `ferroban::server`).
fn main() {
    std::process::exit(ferroban::server::main());
}
