//! The committed TLS files of `tools/make-test-certs.sh`: a test CA, the simulator's server
//! certificate for 127.0.0.1, and a merchant certificate packed as WeChat packs `apiclient_cert.p12`.

use std::path::PathBuf;

use wechat_pay_v2_simulator::SimulatorTls;

pub const P12_PASSWORD: &str = "10000100";

pub fn file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("crates/wechat-pay-v2/tests/data")
        .join(name)
}

/// WeChat's format: RC2-40 certificates, 3DES key, the merchant id as password.
pub fn merchant_p12() -> PathBuf {
    file("apiclient_cert.p12")
}

pub fn test_ca() -> PathBuf {
    file("ca.pem")
}

/// The simulator's HTTPS: its certificate for 127.0.0.1, and merchant certificates trusted when
/// the test CA issued them.
pub fn simulator_tls() -> SimulatorTls {
    SimulatorTls::from_pem_files(&file("simulator.pem"), &file("simulator.key"), &test_ca())
        .expect("the committed test certificates")
}
