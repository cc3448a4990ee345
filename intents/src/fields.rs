//! Follow-up questions about one field of a 办事指南 (找谁, 在哪, 几点, 多久, 要钱吗 …), in the ways people ask them.

use regex::Regex;

/// A field of a service's 办事指南 that a follow-up question asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuideField {
    /// 联系人: 找谁, 哪个老师, 谁负责.
    Contact,
    /// 咨询电话
    Phone,
    /// 收费: 要钱吗, 多少钱.
    Cost,
    /// 相关材料
    Materials,
    /// 办理系统: 哪个系统, 什么平台.
    System,
    /// 在线办理: 能网上办吗.
    Online,
    /// 办理时限: 多久, 几天.
    Duration,
    /// 办公时间: 几点, 上班时间.
    Hours,
    /// 主要业务周期: 什么时候, 截止.
    Time,
    /// 办理流程
    Steps,
    /// 责任部门
    Department,
    /// 办理地点
    Office,
    /// 服务对象: 谁能申请, 我能办吗.
    Audience,
    /// 办理须知
    Notes,
}

impl GuideField {
    pub const ALL: [GuideField; 14] = [
        GuideField::Contact,
        GuideField::Phone,
        GuideField::Cost,
        GuideField::Materials,
        GuideField::System,
        GuideField::Online,
        GuideField::Duration,
        GuideField::Hours,
        GuideField::Time,
        GuideField::Steps,
        GuideField::Department,
        GuideField::Office,
        GuideField::Audience,
        GuideField::Notes,
    ];

    /// The field's label as the 办事指南 card shows it.
    pub fn label(self) -> &'static str {
        match self {
            GuideField::Contact => "联系人",
            GuideField::Phone => "咨询电话",
            GuideField::Cost => "收费",
            GuideField::Materials => "相关材料",
            GuideField::System => "办理系统",
            GuideField::Online => "在线办理",
            GuideField::Duration => "办理时限",
            GuideField::Hours => "办公时间",
            GuideField::Time => "主要业务周期",
            GuideField::Steps => "办理流程",
            GuideField::Department => "责任部门",
            GuideField::Office => "办理地点",
            GuideField::Audience => "服务对象",
            GuideField::Notes => "办理须知",
        }
    }

    /// The last part of the `service.field.*` intent name.
    pub fn name(self) -> &'static str {
        match self {
            GuideField::Contact => "contact",
            GuideField::Phone => "phone",
            GuideField::Cost => "cost",
            GuideField::Materials => "materials",
            GuideField::System => "system",
            GuideField::Online => "online",
            GuideField::Duration => "duration",
            GuideField::Hours => "hours",
            GuideField::Time => "time",
            GuideField::Steps => "steps",
            GuideField::Department => "department",
            GuideField::Office => "office",
            GuideField::Audience => "audience",
            GuideField::Notes => "notes",
        }
    }

    /// The pattern that marks a question about this field (matched on compact, normalized text).
    fn pattern(self) -> &'static str {
        match self {
            GuideField::Contact => {
                r"(联系人|谁审批|谁审核|谁批|谁签字|谁盖章|找谁|找哪个老师|找哪位老师|哪个老师|哪位老师|什么老师|找哪个|找哪位|找什么人|找哪个人|谁负责|负责人|谁管|归谁管|联系谁|问谁|对接人|经办人|who)"
            }
            GuideField::Phone => r"(电话|号码|联系方式|打给谁|手机号|座机|咨询方式|怎么联系|phone|call|contact)",
            GuideField::Cost => {
                r"(要钱|收费|收钱|费用|多少钱|免费|花钱|交钱|付费|要花|价格|工本费|报名费|手续费|考试费|费多少|交多少|cost|fee)"
            }
            GuideField::Materials => {
                r"(材料|带什么|带啥|带哪些|准备什么|准备啥|准备哪些|需要什么东西|要什么东西|证件|单据|票据|发票|凭证|附件|表格|申请表|documents?|materials?)"
            }
            GuideField::System => {
                r"(哪个系统|什么系统|啥系统|哪个平台|什么平台|哪个网站|什么网站|哪个app|什么app|system)"
            }
            GuideField::Online => {
                r"(在线办|网上办|线上办|在线申请|网上申请|线上申请|能不能在线|网上能|线上能|在线能|手机上|手机能|手机可以|链接|网址|入口|online|不用跑|现场吗|去现场|跑一趟)"
            }
            GuideField::Duration => {
                r"(多久|几天|多长时间|多少天|几个工作日|多少个工作日|要多长|当天能|当场能|马上能|how long)"
            }
            GuideField::Hours => {
                r"(几点|上班时间|办公时间|开门|下班|营业时间|工作时间|周末|中午|晚上|早上|上午|下午|白天|节假日|寒暑假|周六|周日|星期|礼拜|双休)"
            }
            GuideField::Time => r"(什么时候|啥时候|几号|时间|截止|期限|周期|几月|哪天|when|deadline)",
            GuideField::Steps => r"(流程|步骤|怎么办理|如何办理|程序|手续|steps?|process|procedure)",
            GuideField::Department => {
                r"(哪个部门|什么部门|哪个单位|负责部门|责任部门|哪个处|归哪|which office|department)"
            }
            GuideField::Office => {
                r"(在哪|哪里办|哪儿办|去哪|到哪|地点|地址|办公室|几楼|哪个楼|哪栋|哪一栋|什么地方|哪个校区|房间|where)"
            }
            GuideField::Audience => {
                r"(谁可以|谁能|服务对象|哪些人|什么人|适用对象|适用于|我能办|我能申请|我可以办|我可以申请|能办吗|可以办吗|能申请吗|可以申请吗|也能办|也能申请|who can)"
            }
            GuideField::Notes => r"(注意事项|须知|要注意|条件|要求)",
        }
    }
}

/// Words a follow-up is made of besides its field and subject: question words, pronouns for the topic (它, 这个,
/// 刚才那个) and verbs of doing. What remains names a subject.
const NOISE: &[&str] = &[
    "刚才那个",
    "刚刚那个",
    "上面那个",
    "之前那个",
    "前面那个",
    "刚才",
    "刚刚",
    "回到",
    "说回",
    "再问",
    "还是",
    "关于",
    "请问",
    "那么",
    "是多少",
    "多少",
    "是什么",
    "什么",
    "是啥",
    "啥",
    "有哪些",
    "哪些",
    "怎么",
    "如何",
    "需要",
    "大概",
    "一般",
    "能不能",
    "可不可以",
    "可以",
    "这个",
    "那个",
    "这项",
    "该事项",
    "这件事",
    "这事",
    "一下",
    "拿到",
    "办下来",
    "下来",
    "补办",
    "申请",
    "办理",
    "开具",
    "领取",
    "的",
    "吗",
    "呢",
    "啊",
    "吧",
    "呀",
    "是",
    "有",
    "在",
    "哪",
    "里",
    "儿",
    "办",
    "我",
    "你",
    "它",
    "他",
    "她",
    "去",
    "找",
    "要",
    "能",
    "得",
    "该",
    "也",
    "还",
    "都",
    "就",
    "才",
    "到",
    "拿",
    "领",
    "交",
    "开",
    "补",
    "了",
    "用",
    "上",
    "那",
    "这",
    "有人",
    "东西",
    "开始",
    "结束",
    "月份",
    "一定",
    "必须",
    "他们",
    "我们",
    "怎样",
    "怎么样",
    "老师",
    "现在",
    "今天",
    "明天",
    "联系",
    "给我",
    "告诉我",
    "发我",
    "说一下",
    "说说",
    "谁",
    "给",
    "钱",
    "一张",
    "一个",
    "一份",
    "再",
    "最晚",
    "最早",
    "之后",
    "以后",
    "打出来",
    "出来",
    "咨询",
    "问问",
    "问一下",
    "提交",
    "上交",
    "递交",
    "有人",
];

/// Who a question about 服务对象 may ask for ("研究生也能申请吗"): part of the question, not its subject.
const ASKERS: &[&str] =
    &["研究生", "本科生", "博士生", "留学生", "学生", "老师", "教师", "教职工", "职工", "校友", "校外人员", "外校"];

/// Compiled field patterns, in the order they are tried (the first match names the field).
pub struct FieldPatterns {
    fields: Vec<(GuideField, Regex)>,
}

/// What a follow-up asks: the field, and the subject it names when it names one ("助学金的电话").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldQuestion {
    pub field: GuideField,
    pub subject: Option<String>,
}

/// Longest follow-up, in characters: longer messages are questions of their own.
const MAX_FOLLOW_UP_CHARS: usize = 18;
/// Longest subject a follow-up may name, in characters.
const MAX_SUBJECT_CHARS: usize = 10;

impl FieldPatterns {
    pub fn new() -> FieldPatterns {
        let fields = GuideField::ALL
            .iter()
            .map(|&f| {
                // The patterns are literals of this file, covered by the tests below.
                #[allow(clippy::expect_used)]
                let re = Regex::new(f.pattern()).expect("built-in field pattern compiles");
                (f, re)
            })
            .collect();
        FieldPatterns { fields }
    }

    /// The field a compact, normalized message asks about, with the subject it names.
    pub fn question(&self, compact: &str) -> Option<FieldQuestion> {
        if compact.chars().count() > MAX_FOLLOW_UP_CHARS {
            return None;
        }
        for (field, pattern) in &self.fields {
            if let Some(m) = pattern.find(compact) {
                let rest = format!("{}{}", &compact[..m.start()], &compact[m.end()..]);
                let mut subject = rest;
                for (_, other) in &self.fields {
                    subject = other.replace_all(&subject, "").into_owned();
                }
                if *field == GuideField::Audience {
                    for a in ASKERS {
                        subject = subject.replace(a, "");
                    }
                }
                let subject = strip_noise(&subject);
                let n = subject.chars().count();
                if n > MAX_SUBJECT_CHARS {
                    return None;
                }
                return Some(FieldQuestion { field: *field, subject: (n >= 2).then_some(subject) });
            }
        }
        None
    }
}

impl Default for FieldPatterns {
    fn default() -> Self {
        FieldPatterns::new()
    }
}

/// What remains of a follow-up once its question words are gone: the subject it names, if any.
pub fn strip_noise(rest: &str) -> String {
    let mut noise: Vec<&str> = NOISE.to_vec();
    // Longer words first, so that 怎么样 goes as a whole before 怎么 could split it.
    noise.sort_by_key(|n| std::cmp::Reverse(n.chars().count()));
    let mut s = rest.to_owned();
    for n in noise {
        s = s.replace(n, "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(text: &str) -> Option<FieldQuestion> {
        let norm = knowledge::normalize::normalize(text);
        let compact: String = norm.chars().filter(|c| !c.is_whitespace()).collect();
        FieldPatterns::new().question(&compact)
    }

    fn field(text: &str) -> Option<GuideField> {
        ask(text).map(|q| q.field)
    }

    #[test]
    fn each_field_is_reached_in_everyday_words() {
        let cases: &[(&str, GuideField)] = &[
            ("找哪位老师", GuideField::Contact),
            ("联系人是谁", GuideField::Contact),
            ("这事谁负责", GuideField::Contact),
            ("办这个该找谁", GuideField::Contact),
            ("电话多少", GuideField::Phone),
            ("怎么联系他们", GuideField::Phone),
            ("办这个要钱吗", GuideField::Cost),
            ("收费吗", GuideField::Cost),
            ("要准备哪些东西", GuideField::Materials),
            ("在哪个系统上办", GuideField::System),
            ("用什么平台", GuideField::System),
            ("能网上办吗", GuideField::Online),
            ("手机上可以弄吗", GuideField::Online),
            ("一定要去现场吗", GuideField::Online),
            ("要多久能拿到", GuideField::Duration),
            ("几天能好", GuideField::Duration),
            ("几点上班", GuideField::Hours),
            ("中午有人吗", GuideField::Hours),
            ("周六可以去吗", GuideField::Hours),
            ("需要谁审批", GuideField::Contact),
            ("报名费多少", GuideField::Cost),
            ("晚上有人吗", GuideField::Hours),
            ("需要什么单据", GuideField::Materials),
            ("截止到什么时候", GuideField::Time),
            ("几月份开始", GuideField::Time),
            ("流程是怎样的", GuideField::Steps),
            ("哪个部门管", GuideField::Department),
            ("办公室在几楼", GuideField::Office),
            ("要去哪补办", GuideField::Office),
            ("在哪儿呢", GuideField::Office),
            ("谁能申请", GuideField::Audience),
            ("我能办吗", GuideField::Audience),
            ("研究生也能申请吗", GuideField::Audience),
            ("有什么条件", GuideField::Notes),
        ];
        for (text, want) in cases {
            assert_eq!(field(text), Some(*want), "{text}");
        }
    }

    #[test]
    fn pronouns_and_verbs_are_not_subjects_but_names_are() {
        for text in [
            "要多久能拿到",
            "要去哪补办",
            "刚才那个电话多少",
            "它要钱吗",
            "这个找哪个老师",
            "我能申请吗",
            "找谁咨询",
            "哪个系统提交",
        ] {
            assert_eq!(ask(text).and_then(|q| q.subject), None, "{text}");
        }
        assert_eq!(ask("助学金的电话多少").and_then(|q| q.subject).as_deref(), Some("助学金"));
        assert_eq!(ask("回到缓考，截止时间是什么时候").and_then(|q| q.subject).as_deref(), Some("缓考"));
        assert_eq!(ask("补办校园卡去哪").and_then(|q| q.subject).as_deref(), Some("校园卡"));
    }

    #[test]
    fn long_messages_are_not_follow_ups() {
        assert_eq!(ask("我想问一下学校图书馆的借书证丢了以后应该在哪里补办才行"), None);
    }
}
