//! Chinese text analysis: jieba segmentation with the domain dictionary, synonym folding, stop words and bigrams.

use crate::load::KnowledgeBase;
use crate::normalize::{is_cjk, normalize};
use jieba_rs::Jieba;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Question words, particles and pronouns: they say how something is asked, not what is asked about.
const STOP_WORDS: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "嘛",
    "哦",
    "哈",
    "啦",
    "么",
    "是",
    "在",
    "有",
    "和",
    "与",
    "及",
    "或",
    "我",
    "你",
    "您",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "咱",
    "自己",
    "这",
    "那",
    "这个",
    "那个",
    "哪个",
    "什么",
    "怎么",
    "怎么办",
    "怎么样",
    "怎样",
    "如何",
    "咋",
    "咋办",
    "咋整",
    "啥",
    "哪",
    "哪里",
    "哪儿",
    "在哪",
    "在哪里",
    "去哪",
    "去哪里",
    "请问",
    "想",
    "想要",
    "要",
    "需要",
    "能",
    "能不能",
    "可以",
    "可不可以",
    "会",
    "就",
    "都",
    "也",
    "还",
    "又",
    "吗",
    "一下",
    "一个",
    "个",
    "些",
    "得",
    "地",
    "着",
    "过",
    "把",
    "被",
    "给",
    "让",
    "对",
    "从",
    "到",
    "为",
    "为什么",
    "因为",
    "所以",
    "但是",
    "如果",
    "那么",
    "然后",
    "现在",
    "已经",
    "应该",
    "是不是",
    "有没有",
    "多少",
    "几",
    "谁",
    "找",
    "问",
    "问问",
    "知道",
    "告诉",
    "帮",
    "帮忙",
    "麻烦",
    "谢谢",
    "你好",
    "您好",
    "老师",
    "同学",
    "办",
    "弄",
    "搞",
    "做",
    "走",
    "流程",
    "一",
    "不",
    "没",
    "很",
    "太",
    "好",
    "吗",
    "嗯",
    "哎",
    "唉",
    "诶",
    "喂",
    "请",
    "下",
    "上",
    "the",
    "a",
    "an",
    "to",
    "of",
    "for",
    "in",
    "on",
    "at",
    "is",
    "are",
    "am",
    "be",
    "do",
    "does",
    "i",
    "my",
    "me",
    "you",
    "your",
    "can",
    "could",
    "how",
    "what",
    "where",
    "when",
    "who",
    "which",
    "should",
    "would",
    "get",
    "it",
    "and",
    "or",
    "with",
    "from",
    "please",
    "there",
    "this",
    "that",
    "any",
    "if",
    "we",
    "our",
    "as",
    "by",
    "about",
    "need",
    "want",
    "have",
    "has",
];

/// Segments and folds text the same way for indexing and for queries. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Analyzer {
    jieba: Arc<Jieba>,
    canonical: Arc<HashMap<String, String>>,
    expansions: Arc<HashMap<String, Vec<String>>>,
    stop: Arc<HashSet<String>>,
}

impl Analyzer {
    /// Builds the segmenter's dictionary from the knowledge base: every item name, tag, department, synonym and
    /// lexicon word, so that domain terms stay whole.
    pub fn new(kb: &KnowledgeBase) -> Analyzer {
        let mut jieba = Jieba::new();
        let mut add = |w: &str, freq: usize| {
            let w = normalize(w);
            // Multi-word names are added per word; jieba entries cannot hold spaces.
            for part in w.split(' ') {
                if part.chars().count() >= 2 {
                    jieba.add_word(part, Some(freq), None);
                }
            }
        };
        for s in &kb.services {
            add(&s.name, 3000);
            s.tags.iter().for_each(|t| add(t, 3000));
            add(&s.theme, 2000);
        }
        for a in &kb.apps {
            add(&a.name, 3000);
            add(&a.category, 1000);
        }
        for d in &kb.departments {
            for part in d.name.split(['（', '）', '、', '(', ')']) {
                add(part, 2000);
            }
        }
        for w in &kb.lexicon.words {
            add(w, 5000);
        }
        let mut canonical = HashMap::new();
        for group in &kb.lexicon.synonyms {
            let Some(first) = group.first() else { continue };
            let head = normalize(first);
            for term in group {
                add(term, 8000);
                let t = normalize(term);
                if t != head && !t.is_empty() {
                    canonical.insert(t, head.clone());
                }
            }
        }
        let mut expansions = HashMap::new();
        for (from, to) in &kb.lexicon.expansions {
            add(from, 8000);
            expansions.insert(normalize(from), to.iter().map(|t| normalize(t)).collect());
        }
        let mut stop: HashSet<String> = STOP_WORDS.iter().map(|s| (*s).to_owned()).collect();
        stop.extend(kb.lexicon.fillers.iter().map(|f| normalize(f)));
        Analyzer {
            jieba: Arc::new(jieba),
            canonical: Arc::new(canonical),
            expansions: Arc::new(expansions),
            stop: Arc::new(stop),
        }
    }

    /// Content terms of a text: segmented (search mode, so long words also yield their parts), stop words
    /// dropped, synonyms folded to their canonical term. Order kept, duplicates kept.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let norm = normalize(text);
        let mut out = Vec::new();
        for chunk in norm.split(' ') {
            if chunk.is_empty() {
                continue;
            }
            for word in self.jieba.cut_for_search(chunk, true) {
                let w = word.word.trim();
                if w.is_empty() || self.stop.contains(w) {
                    continue;
                }
                let folded = self.canonical.get(w).map_or(w, String::as_str);
                out.push(folded.to_owned());
            }
        }
        out
    }

    /// Extra, weaker terms suggested by colloquial words of the text (没钱 → 助学金, 缓交 …).
    pub fn expansions(&self, text: &str) -> Vec<String> {
        let norm = normalize(text);
        let mut out = Vec::new();
        for (from, to) in self.expansions.iter() {
            if norm.contains(from.as_str()) {
                for t in to {
                    out.push(self.canonical.get(t).cloned().unwrap_or_else(|| t.clone()));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Character bigrams of the CJK runs (a lone character stands for itself) and whole ASCII words: recall for
    /// words the dictionary lacks and for typos that break segmentation.
    pub fn bigrams(&self, text: &str) -> Vec<String> {
        let norm = normalize(text);
        let mut out = Vec::new();
        for chunk in norm.split(' ') {
            let mut run: Vec<char> = Vec::new();
            let mut ascii = String::new();
            let flush_run = |run: &mut Vec<char>, out: &mut Vec<String>| {
                if run.len() == 1 {
                    out.push(run[0].to_string());
                }
                for w in run.windows(2) {
                    out.push(w.iter().collect());
                }
                run.clear();
            };
            for c in chunk.chars() {
                if is_cjk(c) {
                    if !ascii.is_empty() {
                        out.push(std::mem::take(&mut ascii));
                    }
                    run.push(c);
                } else {
                    flush_run(&mut run, &mut out);
                    ascii.push(c);
                }
            }
            flush_run(&mut run, &mut out);
            if !ascii.is_empty() && !self.stop.contains(&ascii) {
                out.push(ascii);
            }
        }
        out
    }

    /// Whether a (normalized) word is a stop word.
    pub fn is_stop(&self, word: &str) -> bool {
        self.stop.contains(word)
    }
}
