//! The WeChat protocol (Pay API v2 and mini-program login), usable without the rest of examdesk.
