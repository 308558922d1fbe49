//! `fail2ban-server`: jails running on their own threads, a control socket.

pub mod protocol;
