//! Fuzzes the CAS 3.0 serviceValidate response parser and the single-logout request parser.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        if let Ok(success) = server::channels::cas::parse_service_response(xml) {
            let _ = success.identity(&server::channels::cas::AttributeMapping::default());
        }
        let _ = server::channels::cas::parse_logout_request(xml);
    }
});
