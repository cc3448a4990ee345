//! Tests of `engine`.

use super::*;

#[test]
fn ordinals_pick_offered_candidates() {
    assert_eq!(ordinal_choice("第二个"), Some(1));
    assert_eq!(ordinal_choice("1"), Some(0));
    assert_eq!(ordinal_choice("第一项。"), Some(0));
    assert_eq!(ordinal_choice("第四个"), None);
}

#[test]
fn each_audience_gets_its_own_popular_questions_else_the_overall_ones() {
    let mut popular = Popular { overall: vec!["校园卡丢了怎么补办".into()], ..Popular::default() };
    popular.by_audience.insert(AskerAudience::Teacher, vec!["怎么申请科研经费报销".into()]);
    popular.by_audience.insert(AskerAudience::Guest, Vec::new());
    assert_eq!(popular.for_audience(AskerAudience::Teacher), ["怎么申请科研经费报销".to_owned()]);
    assert_eq!(popular.for_audience(AskerAudience::Student), ["校园卡丢了怎么补办".to_owned()]);
    assert_eq!(popular.for_audience(AskerAudience::Guest), ["校园卡丢了怎么补办".to_owned()]);
    for a in AskerAudience::ALL {
        assert_eq!(AskerAudience::parse(a.as_str()), Some(a));
    }
    assert_eq!(AskerAudience::parse("教师"), Some(AskerAudience::Teacher));
    assert_eq!(AskerAudience::parse("nobody"), None);
    let teacher = UserInfo { id: "T1".into(), name: "李老师".into(), role: Role::Teacher };
    assert_eq!(AskerAudience::of(Some(&teacher)), AskerAudience::Teacher);
    assert_eq!(AskerAudience::of(None), AskerAudience::Guest);
}

#[test]
fn words_reveal_the_audience() {
    assert_eq!(detect_audience("我是老师，想借教室"), Some(Audience::Teacher));
    assert_eq!(detect_audience("已毕业的校友怎么开证明"), Some(Audience::Alumnus));
    assert_eq!(detect_audience("怎么借教室"), None);
}
