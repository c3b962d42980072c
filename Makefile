# The two commands of the quick start. Both install what is missing first and are idempotent.
.PHONY: run test serve setup check

DEMO_QUESTION ?= 什么是 QLoRA？它为什么能在单张显卡上微调大模型？

setup:
	bash scripts/setup.sh

run: setup
	.venv/bin/rag ingest corpora/demo
	.venv/bin/rag ask "$(DEMO_QUESTION)"

# the web app over the demo store, on http://127.0.0.1:8000 (PORT=… to change)
PORT ?= 8000
serve: setup
	.venv/bin/rag ingest corpora/demo
	.venv/bin/rag serve --port $(PORT)

test: setup
	bash scripts/setup_browser.sh
	bash scripts/services.sh up
	bash scripts/check.sh

check:
	bash scripts/check.sh
