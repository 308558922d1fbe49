//! `fail2ban-regex`: test filters against logs (see `ferroban::regex_tool`).
fn main() {
    std::process::exit(ferroban::regex_tool::main());
}
