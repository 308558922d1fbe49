//! `fail2ban-client`: configure and control the server (see `ferroban::client`).
fn main() {
    std::process::exit(ferroban::client::main());
}
