"""Write corpus.jsonl of corpora/demo_local and corpora/demo_global (issue 18, item 6).

The corpus is corpora/demo_qa's 80 demo passages plus the five Chinese notes of
../shared/seeds cut into passages of at most 180 units (Chinese characters + Latin words) at
line or sentence boundaries. The seed notes are third-party web posts with no licence stated,
so their text is not committed: this script rebuilds it, the same bytes every time.

    python scripts/build_seed_corpus.py            # then: rag eval corpora/demo_local ...

Which lines of each note are headings and where its site chrome starts is written out per file
below (SPEC), read off the notes by hand.
"""

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = str(ROOT.parent / "shared" / "seeds") + "/"
DEMO = ROOT / "corpora" / "demo_qa" / "corpus.jsonl"
OUT = [
    ROOT / "corpora" / "demo_local" / "corpus.jsonl",
    ROOT / "corpora" / "demo_global" / "corpus.jsonl",
]
LIMIT = 180
MIN_BEFORE_BREAK = 60


def count(t):
    return len(re.findall(r"[\u4e00-\u9fff]", t)) + len(re.findall(r"[A-Za-z0-9]+", t))


def pid(title, text):
    return hashlib.sha1((title + "\n" + text).encode("utf-8")).hexdigest()[:12]


# --- per-file specs: where the note ends (site chrome after it), noise lines, headings ---
IMG = {"在这里插入图片描述", ".在这里插入图片描述", "在這里插入圖片描述"}

SPEC = {
    "000_160b988bdbf9f29e.txt": dict(
        stop="Logo",
        l1=["主流大模型", "训练范式", "对齐", "分布式训练", "应用层组件与技术", "智能体系统"],
        l2=[
            "国外大模型",
            "国内大模型",
            "通用模型评估指标",
            "预训练",
            "微调",
            "SFT(Supervised Fine-Tuning,监督微调)",
            "Instruction Tuning(指令微调)",
            "Self-Instruct",
            "Parameter-Efficient Tuning(参数高效微调)",
            "Adapter Tuning",
            "LoRA(Low-Rank Adaptation)",
            "QLoRA(Quantized LoRA)",
            "Prefix Tuning",
            "Prompt Tuning",
            "BitFit",
            "Selective Layer Tuning",
            "Sparse Fine-Tuning",
            "RLHF(Reinforcement Learning with Human Feedback)",
            "DPO:Direct Preference Optimization(直接偏好优化)",
            "RPO(Reward-weighted Preference Optimization)",
            "GRPO",
            "parameter server",
            "Ring All Reduce",
            "ZeRO-1/2/3 (三种递进的配置方案)",
            "RAG",
            "数据结构化",
            "向量检索",
            "检索增强生成",
            "KAG",
            "Graph RAG",
            "本地大模型推理部署框架",
            "大模型微调主流框架",
            "推理与规划",
            "ReACT",
            "CoT",
            "MCP",
            "Python Web框架",
            "可视化平台",
        ],
    ),
    "001_68f42d556a6c990c.txt": dict(
        stop=None,
        l1=[
            "GPUs",
            "TASKs",
            "Terms",
            "Transformers",
            "Transformer",
            "GPT",
            "Llama",
            "BART",
            "GLM",
            "BERT",
            "DeepSeek",
            "Agent",
            "Prompt Engineering",
            "Fine-tuing",
        ],
        l2=[
            "==让大模型优化你的提示词!!!==",
            "Direction-Tuning",
            "Prefix-Tuning",
            "Adapter-Tuning",
            "LoRA",
        ],
    ),
    "002_213cbb607d53a92f.txt": dict(
        stop="封面圖:",
        l1=[
            "0.大模型開發知識點需求綜述",
            "一、機器學習與深度學習基礎",
            "二、自然語言處理(NLP)基礎",
            "三、大模型架構",
            "四、訓練優化技術",
            "五、數據處理與預處理",
            "六、分布式訓練與并行化策略",
            "七、微調方法與參數高效微調",
            "八、訓練框架、工具與自動化流程",
            "九、評估與部署",
            "十、前沿技術與未來趨勢",
        ],
        l2=[
            "文章目錄",
            "數學基礎",
            "深度學習理論",
            "基本概念",
            "核心技術",
            "Transformer 模型",
            "主流大模型",
            "高效 Transformer 設計",
            "顯存優化技術",
            "梯度優化策略",
            "加速訓練方法",
            "數據格式與預處理",
            "數據增強方法",
            "增量訓練與數據去重",
            "多 GPU 訓練技術",
            "跨節點分布式訓練",
            "分布式訓練優化",
            "全參數微調(Full Fine-Tuning)",
            "參數高效微調(PEFT)",
            "強化學習微調",
            "訓練框架",
            "超參數優化與監控工具",
            "MLOps 與 CI/CD",
            "模型評估",
            "推理優化與部署方案",
            "跨模態與檢索增強生成",
            "模型安全性、隱私保護與公平性",
            "元學習與自適應優化",
            "企業級大模型研發戰略",
        ],
    ),
    "003_1ad72acf40b9c379.txt": dict(
        stop="相关文章:",
        drop=["当前位置: 首页 > news >正文"],
        l1=[
            "二、大模型微调技术栈全解析",
            "一、微调方法:工具箱中的多样化工具",
            "二、框架:搭建微调的舞台",
            "三、模型:微调的核心对象",
            "四、算力:微调的引擎",
            "五、总结:构建完整的技术栈",
        ],
        l2_re=r"^\d\. \S",
        l2=["大模型微调技术栈全解析:从微调方法到算力支撑"],
    ),
    "004_cb9c2ddecea63633.txt": dict(
        stop="更多推荐",
        drop=["- List item"],
        l1=[
            "AI大模型基础",
            "AI与大模型介绍",
            "AI应用场景",
            "大模型架构",
            "大模型术语",
            "模型参数类型",
            "模型压缩加速",
            "大模型训练",
            "大模型推理",
            "大模型部署",
            "GPU",
        ],
        l2=[
            "AI 的总体发展历程",
            "从机器学习到深度学习",
            "机器学习(Machine Learning)",
            "深度学习(Deep Learning)",
            "机器学习与深度学习对比",
            "从深度学习到大模型",
            "深度学习瓶颈",
            "大模型时代的三大转变",
            "大模型的核心特点",
            "大模型引发的变革",
            "AGI",
            "大模型与 AGI 的关系图谱",
            "大模型是AGI的阶段",
            "AIGC",
            "AIGC 的典型内容类型",
            "AIGC 背后的技术基础",
            "AIGC 与大模型、AGI 的区别和联系",
            "自然语言处理(NLP)",
            "计算机视觉(Computer Vision)",
            "语音识别与合成(ASR & TTS)",
            "语音识别(ASR)",
            "语音合成(TTS)",
            "三者融合场景(NLP + CV + 语音)",
            "应用领域案例汇总(按行业)",
            "Transformer 架构",
            "BERT 模型",
            "GPT 架构",
            "MoE 模型",
            "大模型工作流程",
            "稠密模型(Dense Model)",
            "稀疏模型(Sparse Model)",
            "MoE 模型(Mixture of Experts)",
            "蒸馏模型(Model Distillation)",
            "量化模型(Model Quantization)",
            "大模型预训练",
            "大模型后训练",
            "大模型微调",
            "全量微调",
            "参数高效微调",
            "LoRA(Low-Rank Adaptation)",
            "Prefix-Tuning",
            "Adapter",
            "BitFit",
            "强化学习微调",
            "提示调优",
            "深度提示调优",
            "动态低秩适应",
            "自适应低秩适应",
            "量化低秩适应",
            "训练、微调、推理对比总结",
            "单机 TP 模式",
            "单机 EP 模式",
            "多机 TP 模式",
            "多机 EP 模式",
            "PD 分离模式",
            "多 PD Master 模式",
            "总结对比",
            "CPU 与 GPU 区别",
        ],
    ),
}


def split_long(line):
    """A line longer than LIMIT, cut at sentence ends, else at commas/semicolons."""
    if count(line) <= LIMIT:
        return [line]
    for pat in (r"(?<=[。！？!?；;])", r"(?<=[,，、])"):
        parts = [p for p in re.split(pat, line) if p]
        if len(parts) > 1:
            out, cur = [], ""
            for p in parts:
                if cur and count(cur + p) > LIMIT:
                    out.append(cur)
                    cur = p
                else:
                    cur += p
            if cur:
                out.append(cur)
            res = []
            for o in out:
                res.extend(split_long(o) if count(o) > LIMIT and o != line else [o])
            return res
    return [line]


def sections(fname):
    spec = SPEC[fname]
    raw = Path(SEEDS + fname).read_text(encoding="utf-8").split("\n")
    lines = []
    for line in raw:
        s = line.strip()
        if spec.get("stop") and s == spec["stop"]:
            break
        if not s or s in IMG or s in spec.get("drop", []):
            continue
        lines.append(s)
    l1, l2 = set(spec["l1"]), set(spec["l2"])
    secs = []  # (heading, level, [lines])
    for s in lines:
        lvl = (
            1
            if s in l1
            else 2
            if (s in l2 or (spec.get("l2_re") and re.match(spec["l2_re"], s)))
            else 0
        )
        if lvl:
            secs.append([s, lvl, [s]])
        else:
            if not secs:
                secs.append([None, 0, []])
            secs[-1][2].append(s)
    return secs


def table_header(lines_before):
    """The header row + separator of the table the last of lines_before belongs to."""
    hdr = None
    for j in range(len(lines_before) - 1, -1, -1):
        if not lines_before[j].startswith("|"):
            break
        if re.match(r"^\|[-| ]+\|$", lines_before[j]) and j > 0:
            hdr = [lines_before[j - 1], lines_before[j]]
    return hdr


def merged_sections(fname):
    """Sections that are only their heading line are joined to the next section with a body;
    the chain takes the last (nearest) heading as its own."""
    out, pend_lines, pend_lvl = [], [], 0
    for head, lvl, lines in sections(fname):
        has_body = len(lines) > 1 or head is None
        if pend_lines:
            lines = pend_lines + lines
            lvl = min(pend_lvl, lvl) if lvl else pend_lvl
        if not has_body:
            if not pend_lines:
                first_head = head
            pend_lines, pend_lvl = lines, lvl
            continue
        pend_lines, pend_lvl = [], 0
        out.append([head, lvl, lines])
    if pend_lines:
        out.append([first_head, pend_lvl, pend_lines])
    return out


def passages(fname):
    out = []  # (heading, [lines])
    cur_head, cur = None, []

    def flush():
        nonlocal cur, cur_head
        if cur:
            out.append((cur_head, cur))
        cur, cur_head = [], None

    for head, lvl, lines in merged_sections(fname):
        sec_text = "\n".join(lines)
        if cur and (
            count("\n".join(cur + lines)) > LIMIT
            or (lvl == 1 and count("\n".join(cur)) >= MIN_BEFORE_BREAK)
        ):
            flush()
        if count(sec_text) <= LIMIT:
            if not cur:
                cur_head = head
            cur.extend(lines)
            continue
        # a section too long for one passage: pack its lines
        units = []
        for line in lines:
            units.extend(split_long(line))
        done = []
        for u in units:
            if cur and count("\n".join([*cur, u])) > LIMIT:
                flush()
                if u.startswith("|"):
                    hdr = table_header(done)
                    if hdr and hdr[0] != u:
                        cur = list(hdr)
            if not cur_head:
                cur_head = head
            cur.append(u)
            done.append(u)
    flush()
    return out


def main():
    corpus = [json.loads(line) for line in DEMO.read_text(encoding="utf-8").splitlines()]
    seen = {d["id"] for d in corpus}
    for fname in sorted(SPEC):
        for head, lines in passages(fname):
            text = "\n".join(lines)
            if head is None:
                head = re.split(r"[,，。:：]", lines[0])[0][:30]
            title = f"{fname} > {head}"
            i = pid(title, text)
            assert i not in seen, (title, text)
            seen.add(i)
            corpus.append({"id": i, "title": title, "text": text})
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus)
    for out in OUT:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    print(f"{len(corpus)} passages → " + ", ".join(str(o.relative_to(ROOT)) for o in OUT))


if __name__ == "__main__":
    main()
