//! One module per platform: inbound verification and normalization, outbound signing and
//! rendering, and sample callbacks for testing.

pub mod dingtalk;
pub mod feishu;
pub mod wechat;
pub mod wecom;
