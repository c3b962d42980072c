"""Every interface string of the pages, in English and Chinese, and the reader's language.

Templates call `t(key)`; page scripts get the same table for their language as JSON, so a string
is written once for both. Placeholders are `{name}`, filled by `translate` here and by `t()` in
static/js/common.js alike. Text from documents and models is never looked up here.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from flask import Request

Lang = Literal["en", "zh"]
LANGUAGES: tuple[Lang, ...] = ("en", "zh")

# fmt: off
STRINGS: dict[str, dict[Lang, str]] = {
    "app.name": {"en": "Knowledge QA", "zh": "知识问答"},
    # navigation
    "nav.label": {"en": "Main", "zh": "主导航"},
    "nav.ask": {"en": "Ask", "zh": "问答"},
    "nav.compare": {"en": "Compare", "zh": "对比"},
    "nav.retrieval": {"en": "Retrieval", "zh": "检索"},
    "nav.documents": {"en": "Documents", "zh": "文档"},
    "nav.upload": {"en": "Upload", "zh": "上传"},
    "nav.graph": {"en": "Graph", "zh": "知识图谱"},
    "nav.api": {"en": "API", "zh": "API"},
    "nav.other_language": {"en": "中文", "zh": "English"},
    "nav.switch_language": {"en": "切换到中文", "zh": "Switch to English"},
    # shared words
    "common.cancel": {"en": "Cancel", "zh": "取消"},
    "common.less": {"en": "Show less", "zh": "收起"},
    "common.loading": {"en": "Loading…", "zh": "加载中…"},
    "common.more": {"en": "Show more", "zh": "展开"},
    "common.next": {"en": "Next", "zh": "下一页"},
    "common.previous": {"en": "Previous", "zh": "上一页"},
    "common.refresh": {"en": "Refresh", "zh": "刷新"},
    "common.score": {"en": "Score", "zh": "得分"},
    "common.search": {"en": "Search", "zh": "搜索"},
    # errors the page itself reports
    "error.http": {"en": "The server answered {status} {text}.", "zh": "服务器返回 {status} {text}。"},
    "error.network": {"en": "Cannot reach the server.", "zh": "无法连接服务器。"},
    "error.unauthorized": {"en": "Please log in.", "zh": "请先登录。"},
    "error.unknown": {"en": "Something went wrong.", "zh": "出错了。"},
    # statuses of documents (DocumentRow.status)
    "status.ready": {"en": "ready", "zh": "就绪"},
    "status.graph_pending": {"en": "graph pending", "zh": "图谱待建"},
    "status.queued": {"en": "queued", "zh": "排队中"},
    "status.processing": {"en": "processing", "zh": "处理中"},
    "status.failed": {"en": "failed", "zh": "失败"},
    # states of jobs (Job.state)
    "jobstate.queued": {"en": "queued", "zh": "排队中"},
    "jobstate.running": {"en": "running", "zh": "运行中"},
    "jobstate.done": {"en": "done", "zh": "完成"},
    "jobstate.failed": {"en": "failed", "zh": "失败"},
    "jobstate.cancelled": {"en": "cancelled", "zh": "已取消"},
    # stages of one file in a job (FileJob.stage)
    "stage.queued": {"en": "queued", "zh": "排队中"},
    "stage.parsing": {"en": "parsing", "zh": "解析中"},
    "stage.chunking": {"en": "chunking", "zh": "分块中"},
    "stage.embedding": {"en": "embedding", "zh": "向量化"},
    "stage.graph": {"en": "graph", "zh": "构建图谱"},
    "stage.done": {"en": "done", "zh": "完成"},
    "stage.failed": {"en": "failed", "zh": "失败"},
    "stage.unchanged": {"en": "unchanged", "zh": "未变化"},
    "stage.cancelled": {"en": "cancelled", "zh": "已取消"},
    # modes, strategies, methods (the names themselves come from rag.modes.registry)
    "mode_help.rag": {"en": "Hybrid retrieval of passages.", "zh": "混合检索文档片段。"},
    "mode_help.graph": {"en": "Entities, relations and community reports from the knowledge graph, then passages.",
                        "zh": "先用知识图谱中的实体、关系和社区报告，再检索片段。"},
    "mode_help.kag": {"en": "A logical plan whose steps are answered from the graph, the passages and Python.",
                      "zh": "生成逻辑计划，逐步用图谱、片段和 Python 求解。"},
    "strategy.local": {"en": "local (entity neighbourhood)", "zh": "local（实体邻域）"},
    "strategy.global": {"en": "global (community reports)", "zh": "global（社区报告）"},
    "strategy.ppr": {"en": "ppr (personalised PageRank)", "zh": "ppr（个性化 PageRank）"},
    "strategy.hybrid": {"en": "hybrid (PageRank + passages)", "zh": "hybrid（PageRank + 片段）"},
    "method.dense": {"en": "dense (vectors)", "zh": "dense（向量）"},
    "method.bm25": {"en": "bm25 (keywords)", "zh": "bm25（关键词）"},
    "method.hybrid": {"en": "hybrid (both)", "zh": "hybrid（混合）"},
    # timings (Answer.timings, retrieve's timings, and the page's own measurement)
    "timing.retrieval_s": {"en": "retrieval", "zh": "检索"},
    "timing.retrieve": {"en": "retrieval", "zh": "检索"},
    "timing.first_token_s": {"en": "first token", "zh": "首个词元"},
    "timing.generation_s": {"en": "generation", "zh": "生成"},
    "timing.total_s": {"en": "server total", "zh": "服务器总计"},
    "timing.client_s": {"en": "in the browser", "zh": "浏览器计时"},
    # /ask
    "ask.title": {"en": "Ask", "zh": "问答"},
    "ask.question": {"en": "Question", "zh": "问题"},
    "ask.placeholder": {"en": "Ask a question about your documents…", "zh": "就你的文档提一个问题…"},
    "ask.mode": {"en": "Mode", "zh": "模式"},
    "ask.strategy": {"en": "Graph strategy", "zh": "图谱策略"},
    "ask.advanced": {"en": "Advanced", "zh": "高级选项"},
    "ask.k": {"en": "Passages (k)", "zh": "片段数 (k)"},
    "ask.method": {"en": "Retrieval method", "zh": "检索方法"},
    "ask.method_default": {"en": "default: {method}", "zh": "默认：{method}"},
    "ask.submit": {"en": "Ask", "zh": "提问"},
    "ask.stop": {"en": "Stop", "zh": "停止"},
    "ask.hint": {"en": "Ctrl+Enter asks. Hover a citation to see its passage; click it to open the document.",
                 "zh": "Ctrl+Enter 提问。鼠标悬停在引用上可查看原文片段，点击打开文档。"},
    "ask.thinking": {"en": "Thinking…", "zh": "思考中…"},
    "ask.retrieving": {"en": "Retrieving…", "zh": "检索中…"},
    "ask.generating": {"en": "Answering…", "zh": "生成回答中…"},
    "ask.done": {"en": "Done.", "zh": "完成。"},
    "ask.failed": {"en": "Failed.", "zh": "失败。"},
    "health.missing": {
        "en": "The {role} model {name} is not installed, so questions cannot be answered yet: "
        "run `rag models install` on the server.",
        "zh": "{role} 模型 {name} 尚未安装，暂时无法回答问题：请在服务器上运行 `rag models install`。",
    },
    "ask.stopped": {"en": "Stopped.", "zh": "已停止。"},
    "ask.sources": {"en": "Sources", "zh": "来源"},
    "ask.no_sources": {"en": "No passages were found.", "zh": "没有找到相关片段。"},
    "ask.trace": {"en": "What the mode did", "zh": "执行过程"},
    "ask.show_in_graph": {"en": "Show in graph", "zh": "在图谱中查看"},
    "ask.cite_label": {"en": "Source {n}: {document}", "zh": "来源 {n}：{document}"},
    "ask.cite_unknown": {"en": "[{n}] is not one of the sources.", "zh": "[{n}] 不在来源列表中。"},
    # the trace of a mode
    "trace.plan": {"en": "Plan", "zh": "计划"},
    "trace.step": {"en": "Step {n}", "zh": "第 {n} 步"},
    "trace.entity": {"en": "entity", "zh": "实体"},
    "trace.expression": {"en": "expression", "zh": "表达式"},
    "trace.inputs": {"en": "inputs", "zh": "输入"},
    "trace.ids": {"en": "{n} passages", "zh": "{n} 个片段"},
    "trace.ids.one": {"en": "1 passage", "zh": "1 个片段"},
    "trace.match_entities": {"en": "Entities matched in the question", "zh": "问题中匹配到的实体"},
    "trace.no_entities": {"en": "No entity matched.", "zh": "没有匹配到实体。"},
    "trace.empty": {"en": "No trace.", "zh": "无执行记录。"},
    "trace.kind.fallback": {"en": "Fallback: iterative retrieval", "zh": "回退：迭代检索"},
    "trace.kind.local": {"en": "Local search", "zh": "局部检索"},
    "trace.kind.ppr": {"en": "Personalised PageRank", "zh": "个性化 PageRank"},
    "trace.kind.fuse": {"en": "Fusion", "zh": "融合"},
    "trace.kind.global_map": {"en": "Community reports", "zh": "社区报告"},
    "trace.kind.question_passages": {"en": "The question's own passages", "zh": "问题本身检索到的片段"},
    "trace.key.result": {"en": "result", "zh": "结果"},
    "trace.key.from": {"en": "from", "zh": "来自"},
    "trace.key.chunks": {"en": "passages", "zh": "片段"},
    "trace.key.query": {"en": "query", "zh": "查询"},
    "trace.key.thought": {"en": "thought", "zh": "思路"},
    "trace.key.strategy": {"en": "strategy", "zh": "策略"},
    "trace.key.reason": {"en": "reason", "zh": "原因"},
    "trace.key.method": {"en": "method", "zh": "方法"},
    "trace.key.seeds": {"en": "seeds", "zh": "种子"},
    "trace.key.top": {"en": "top passages", "zh": "排名靠前的片段"},
    "trace.key.with": {"en": "with", "zh": "融合对象"},
    "trace.key.relations": {"en": "relations", "zh": "关系"},
    "trace.key.reports": {"en": "community reports", "zh": "社区报告"},
    # /compare
    "compare.title": {"en": "Compare modes", "zh": "模式对比"},
    "compare.graph_strategy": {"en": "Graph RAG strategy", "zh": "Graph RAG 策略"},
    "compare.submit": {"en": "Answer in every mode", "zh": "用三种模式回答"},
    "compare.hint": {"en": "The modes answer one after another: the local model answers one question at a time.",
                     "zh": "三种模式依次回答：本地模型一次只回答一个问题。"},
    "compare.waiting": {"en": "Waiting…", "zh": "等待中…"},
    # /retrieval
    "retrieval.title": {"en": "Retrieval", "zh": "检索"},
    "retrieval.submit": {"en": "Retrieve", "zh": "检索"},
    "retrieval.compare_methods": {"en": "Compare methods", "zh": "对比检索方法"},
    "retrieval.documents": {"en": "Only these documents", "zh": "仅限这些文档"},
    "retrieval.doc_search": {"en": "Find documents…", "zh": "查找文档…"},
    "retrieval.documents_hint": {"en": "None selected: every document. Ctrl+click selects several.",
                                 "zh": "不选：全部文档。按住 Ctrl 点击可多选。"},
    "retrieval.path_glob": {"en": "Path pattern", "zh": "路径模式"},
    "retrieval.results": {"en": "Ranked passages", "zh": "片段排名"},
    "retrieval.no_results": {"en": "Nothing retrieved.", "zh": "没有检索到内容。"},
    "retrieval.by_method": {"en": "Rankings by method", "zh": "各检索方法的排名"},
    "retrieval.by_method_hint": {"en": "A passage found by several methods has the same colour in each column; hover one to see it elsewhere.",
                                 "zh": "被多个方法检索到的片段在各列中颜色相同；悬停可在其他列中看到它。"},
    # /documents and /documents/<id>
    "documents.title": {"en": "Documents", "zh": "文档"},
    "documents.add": {"en": "Add documents", "zh": "添加文档"},
    "documents.search_placeholder": {"en": "Filter by name, source or title", "zh": "按名称、来源或标题筛选"},
    "documents.status": {"en": "Status", "zh": "状态"},
    "documents.status_any": {"en": "any", "zh": "全部"},
    "documents.per_page": {"en": "Per page", "zh": "每页"},
    "documents.name": {"en": "Name", "zh": "名称"},
    "documents.format": {"en": "Format", "zh": "格式"},
    "documents.size": {"en": "Size", "zh": "大小"},
    "documents.pages": {"en": "Pages", "zh": "页数"},
    "documents.chunks": {"en": "Chunks", "zh": "片段"},
    "documents.entities": {"en": "Entities", "zh": "实体"},
    "documents.ingested_at": {"en": "Ingested", "zh": "导入时间"},
    "documents.empty": {"en": "No documents match.", "zh": "没有符合条件的文档。"},
    "documents.pages_nav": {"en": "Pages of the list", "zh": "列表分页"},
    "documents.page_info": {"en": "Page {page} of {pages} · {total} documents", "zh": "第 {page}/{pages} 页 · 共 {total} 个文档"},
    "document.title": {"en": "Document", "zh": "文档"},
    "document.back": {"en": "All documents", "zh": "全部文档"},
    "document.reingest": {"en": "Re-ingest", "zh": "重新导入"},
    "document.delete": {"en": "Delete", "zh": "删除"},
    "document.delete_title": {"en": "Delete this document?", "zh": "删除这个文档？"},
    "document.delete_confirm": {"en": "“{name}”, its chunks and what the graph learnt only from it will be removed from the store.",
                                "zh": "“{name}”及其片段、仅来自它的图谱内容将从知识库中删除。"},
    "document.entities": {"en": "Entities", "zh": "实体"},
    "document.no_entities": {"en": "No entities from this document (yet).", "zh": "该文档（暂时）没有实体。"},
    "document.show_in_graph": {"en": "Show this document's entities in the graph", "zh": "在图谱中查看本文档的实体"},
    "document.chunks": {"en": "Chunks", "zh": "片段"},
    "document.page": {"en": "page {n}", "zh": "第 {n} 页"},
    "document.source": {"en": "Source", "zh": "来源"},
    "document.doc_title": {"en": "Title", "zh": "标题"},
    "document.id": {"en": "Id", "zh": "标识"},
    "document.error": {"en": "Error", "zh": "错误"},
    # /upload
    "upload.title": {"en": "Upload documents", "zh": "上传文档"},
    "upload.drop_here": {"en": "Drop files or folders here", "zh": "将文件或文件夹拖放到这里"},
    "upload.supported": {"en": "Supported: {extensions}", "zh": "支持：{extensions}"},
    "upload.choose_files": {"en": "Choose files", "zh": "选择文件"},
    "upload.choose_folder": {"en": "Choose a folder", "zh": "选择文件夹"},
    "upload.limits": {"en": "At most {file_mb} MB a file, {upload_mb} MB an upload; bigger selections are sent in several parts.",
                      "zh": "单个文件最大 {file_mb} MB，单次上传最大 {upload_mb} MB；更多内容会分批发送。"},
    "upload.ignored": {"en": "{n} files ignored", "zh": "已忽略 {n} 个文件"},
    "upload.ignored.one": {"en": "1 file ignored", "zh": "已忽略 1 个文件"},
    "upload.why_type": {"en": "unsupported type ({ext})", "zh": "不支持的类型（{ext}）"},
    "upload.why_hidden": {"en": "hidden file or folder", "zh": "隐藏的文件或文件夹"},
    "upload.why_twice": {"en": "chosen twice", "zh": "重复选择"},
    "upload.why_empty": {"en": "empty file", "zh": "空文件"},
    "upload.why_large": {"en": "{size}, over the {limit} MB limit", "zh": "{size}，超过 {limit} MB 上限"},
    "upload.nothing_supported": {"en": "None of these files can be ingested.", "zh": "这些文件都无法导入。"},
    "upload.failed_batch": {"en": "{n} files were not queued:", "zh": "{n} 个文件未能加入队列："},
    "upload.failed_batch.one": {"en": "1 file was not queued:", "zh": "1 个文件未能加入队列："},
    "upload.jobs": {"en": "Ingestion jobs", "zh": "导入任务"},
    "upload.no_jobs": {"en": "No jobs yet.", "zh": "还没有任务。"},
    "upload.job": {"en": "Job {id}", "zh": "任务 {id}"},
    "upload.summary": {"en": "{done}/{total} files finished, {failed} failed", "zh": "{done}/{total} 个文件已结束，{failed} 个失败"},
    "upload.chunks": {"en": "{n} chunks", "zh": "{n} 个片段"},
    "upload.chunks.one": {"en": "1 chunk", "zh": "1 个片段"},
    "upload.cancel": {"en": "Cancel", "zh": "取消"},
    "upload.retry": {"en": "Retry failed files", "zh": "重试失败的文件"},
    # /graph
    "graph.title": {"en": "Knowledge graph", "zh": "知识图谱"},
    "graph.search": {"en": "Find an entity", "zh": "查找实体"},
    "graph.search_placeholder": {"en": "Find an entity…", "zh": "查找实体…"},
    "graph.no_match": {"en": "No entity matches.", "zh": "没有匹配的实体。"},
    "graph.communities": {"en": "Communities", "zh": "社区"},
    "graph.level": {"en": "Level", "zh": "层级"},
    "graph.all_levels": {"en": "all levels", "zh": "全部层级"},
    "graph.level_n": {"en": "level {n}", "zh": "第 {n} 层"},
    "graph.no_communities": {"en": "No communities.", "zh": "没有社区。"},
    "graph.show_community": {"en": "Show in graph", "zh": "在图中显示"},
    "graph.depth": {"en": "Depth", "zh": "深度"},
    "graph.fit": {"en": "Fit", "zh": "适应窗口"},
    "graph.canvas": {"en": "Entity graph; drag to pan, scroll to zoom, click a node or an edge",
                     "zh": "实体关系图：拖动平移，滚轮缩放，点击节点或边"},
    "graph.caption": {"en": "{nodes} entities, {edges} relations · double-click a node to expand it",
                      "zh": "{nodes} 个实体，{edges} 条关系 · 双击节点展开"},
    "graph.empty": {"en": "Nothing to draw: the store has no graph for this (yet).", "zh": "没有可显示的内容：知识库（暂时）没有相关图谱。"},
    "graph.details_hint": {"en": "Click an entity or a relation to see where it comes from.", "zh": "点击实体或关系，查看它的来源。"},
    "graph.degree": {"en": "{n} relations", "zh": "{n} 条关系"},
    "graph.degree.one": {"en": "1 relation", "zh": "1 条关系"},
    "graph.chunk_count": {"en": "in {n} passages", "zh": "出现在 {n} 个片段中"},
    "graph.chunk_count.one": {"en": "in 1 passage", "zh": "出现在 1 个片段中"},
    "graph.aliases": {"en": "Also called", "zh": "别名"},
    "graph.expand": {"en": "Expand neighbours", "zh": "展开邻居"},
    "graph.center": {"en": "Only this neighbourhood", "zh": "只看此邻域"},
    "graph.relations": {"en": "Relations", "zh": "关系"},
    "graph.no_relations": {"en": "No relations.", "zh": "没有关系。"},
    "graph.relation_details": {"en": "details", "zh": "详情"},
    "graph.relation": {"en": "Relation", "zh": "关系"},
    "graph.weight": {"en": "weight {n}", "zh": "权重 {n}"},
    "graph.keywords": {"en": "Keywords", "zh": "关键词"},
    "graph.sources": {"en": "Stated in", "zh": "出处"},
    "graph.no_library": {"en": "The graph library is missing: run scripts/vendor_js.sh on the server.",
                         "zh": "缺少图谱库：请在服务器上运行 scripts/vendor_js.sh。"},
    "graph.no_chunks": {"en": "No source passages.", "zh": "没有来源片段。"},
    # /login
    "login.title": {"en": "Log in", "zh": "登录"},
    "login.explain": {"en": "This service asks for its API key.", "zh": "此服务需要 API 密钥。"},
    "login.key": {"en": "API key", "zh": "API 密钥"},
    "login.submit": {"en": "Log in", "zh": "登录"},
    "login.wrong_key": {"en": "That key is not right.", "zh": "密钥不正确。"},
}
# fmt: on


def language(request: Request) -> Lang:
    """`?lang=`, else the `lang` cookie (set from an earlier `?lang=`), else Accept-Language."""
    for asked in (request.args.get("lang"), request.cookies.get("lang")):
        if asked in LANGUAGES:
            return cast(Lang, asked)
    best = request.accept_languages.best_match(LANGUAGES, default="en")
    return "zh" if best == "zh" else "en"


def translate(key: str, lang: Lang, **values: Any) -> str:
    """One string; an unknown key raises KeyError, so a typo fails the page's test, not a reader."""
    text = STRINGS[key][lang]
    return text.format(**values) if values else text


def strings(lang: Lang) -> dict[str, str]:
    """The whole table in one language, for the page scripts."""
    return {key: both[lang] for key, both in STRINGS.items()}
