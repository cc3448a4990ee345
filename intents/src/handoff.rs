//! What a user says to leave a handoff to a person (结束人工) and go back to the bot.

use knowledge::normalize::normalize;
use regex::Regex;
use std::sync::OnceLock;

/// Whether a message, sent while a person serves (or is about to serve) the conversation, asks to end that and go
/// back to the bot. Only whole short messages count: "不用了，谢谢您" ends it, a question mentioning 机器人 does not.
pub fn is_leave_request(text: &str) -> bool {
    static LEAVE: OnceLock<Regex> = OnceLock::new();
    let leave = LEAVE.get_or_init(|| {
        Regex::new(concat!(
            r"^(我)?(要|想)?(结束|退出|取消|关闭|停止|不要|不用|不需要)(人工|人工服务|人工客服|转人工|对话|会话|等待|排队)",
            r"(服务)?(了)?(吧)?$",
            r"|^(不用|不需要|不要)(人工)?了?(谢谢(您|你)?|多谢)?$",
            r"|^(算了|取消|退出|结束)(吧|了)?$",
            r"|^(回到|返回|切换到|切回|换回)(机器人|智能问答|小助手|助手)$",
            r"|^(exit|quit|cancel|endchat|stop)$",
        ))
        .expect("the leave pattern compiles")
    });
    let compact: String = normalize(text)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '，' | ',' | '。' | '.' | '!' | '！' | '~' | '～'))
        .collect();
    leave.is_match(&compact.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_requests_to_leave_are_recognized() {
        for text in
            ["结束人工", "退出人工服务", "不用人工了", "取消等待", "回到机器人", "算了", "不用了，谢谢您", "Exit"]
        {
            assert!(is_leave_request(text), "{text}");
        }
    }

    #[test]
    fn questions_and_ordinary_words_to_the_agent_are_not() {
        for text in ["奖学金什么时候发", "结束了吗", "机器人回答得不对", "谢谢", "人工客服在吗", "取消选课怎么办理"]
        {
            assert!(!is_leave_request(text), "{text}");
        }
    }
}
