# The two commands a newcomer needs: `make demo` and `make test`. Everything else is here for them.
# Needs only the Rust toolchain and Python 3 with pip: the Python tools go into .venv, made on first use.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum < requirements-dev.txt | cut -d' ' -f1)
BOOTSTRAP := target/debug/cfn-sagemaker-autoscaling
export CFN_SMA_PYTHON := $(abspath $(PY))

.PHONY: all demo test venv tools sam sar build fmt clippy unit-and-e2e cfn-lint iam cdk-synth cdk-framework cdk-package release release-check cdk-lib watch bench package clean

all: test

## venv: the Python tools (moto, cfn-lint, cargo-lambda), pinned in requirements-dev.txt
venv: $(STAMP)
$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

## tools: SAM CLI and checkov, in their own venv (requirements-tools.txt)
TOOLS ?= .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed-$(shell cksum < requirements-tools.txt | cut -d' ' -f1)
tools: $(TOOLS_STAMP)
$(TOOLS_STAMP): requirements-tools.txt
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	rm -f $(TOOLS)/.installed-* && touch $@

## build: the bootstrap (debug; `make package` builds the deployable one)
build:
	cargo build --locked --bin cfn-sagemaker-autoscaling

## demo: Create, Update and Delete from events/ through the real bootstrap, against the embedded emulator
demo: venv build
	CFN_SMA_BOOTSTRAP=$(abspath $(BOOTSTRAP)) cargo run --locked --quiet --example demo

## test: every check CI runs
test: venv fmt clippy unit-and-e2e cfn-lint iam cdk-synth cdk-framework sam release-check cdk-lib

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --locked --workspace --all-targets -- -D warnings

## unit-and-e2e: unit tests, emulator tests and end-to-end tests of the compiled bootstrap (one cargo run)
unit-and-e2e: venv
	cargo test --locked

cfn-lint: venv
	$(VENV)/bin/cfn-lint template.yaml examples/cloudformation/*.yaml examples/cloudformation/*/*.yaml examples/sam/*.yaml

## iam: the function role against AWS's service authorization reference (parliament): actions, resources, conditions
iam: venv
	$(PY) tools/iam_check.py template.yaml

## sam: the template through SAM's own checks and build (rust-cargolambda, arm64), and checkov
sam: venv tools
	rustup target add aarch64-unknown-linux-gnu
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam validate --lint -t template.yaml
	PATH="$(abspath $(VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam build --beta-features -t template.yaml
	$(TOOLS)/bin/checkov -f template.yaml --quiet --compact --skip-download

## cdk-synth: the TypeScript CDK example, installed from the npm registry and synthesized offline, then linted
CDK_DIR := examples/cdk
cdk-synth: venv
	cd $(CDK_DIR) && npm ci --no-audit --no-fund --loglevel=error
	cd $(CDK_DIR) && npx tsc && CDK_DISABLE_CLI_TELEMETRY=true npx cdk synth --no-notices --no-version-reporting --quiet
	# W3005 is reported inside the Provider framework resources that aws-cdk-lib generates, not in ours.
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- $(CDK_DIR)/cdk.out/*.template.json

## cdk-framework: an endpoint update under aws-cdk-lib's own Provider framework runtime (framework.js from the npm
## registry, examples/cdk's), driven as its waiter state machine drives it, the bootstrap as its user function
cdk-framework: venv
	cd $(CDK_DIR) && [ -d node_modules/aws-cdk-lib ] || npm ci --no-audit --no-fund --loglevel=error
	cargo test --locked --test cdk_provider -- --ignored

## cdk-package: the typed construct library (cdk/, TypeScript compiled with jsii) with the arm64 bootstrap inside,
## packaged for npm and PyPI by jsii-pacmak (cdk/dist/js, cdk/dist/python)
CDK_LIB := cdk
CDK_PY := .venv-cdk-python
cdk-package: venv package
	mkdir -p $(CDK_LIB)/assets && cp target/lambda/cfn-sagemaker-autoscaling/bootstrap.zip $(CDK_LIB)/assets/bootstrap.zip
	cd $(CDK_LIB) && npm ci --no-audit --no-fund --loglevel=error
	cd $(CDK_LIB) && npx jsii --silence-warnings=reserved-word
	cd $(CDK_LIB) && rm -rf dist && PATH="$(abspath $(VENV))/bin:$$PATH" npx jsii-pacmak --targets js python

## release: dist/, everything a user installs without Rust: the arm64 zip, a plain CloudFormation template (the zip
## from the CodeBucket and CodeKey parameters), the Serverless Application Repository listing (sar/: template, zip,
## LICENSE, README), the npm tarball and the Python wheel of the CDK library (the zip inside), and SHA256SUMS.
## Publishing (npm, PyPI, SAR, a release) is .github/workflows/release.yml, on a tag, where credentials exist.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
RELEASE_ZIP := cfn-sagemaker-autoscaling-$(VERSION)-arm64.zip
release: venv tools package cdk-package
	rm -rf dist && mkdir -p dist
	cp target/lambda/cfn-sagemaker-autoscaling/bootstrap.zip dist/$(RELEASE_ZIP)
	$(TOOLS)/bin/python tools/release.py $(VERSION) $(RELEASE_ZIP) dist
	cp $(CDK_LIB)/dist/js/*.jsii.tgz $(CDK_LIB)/dist/python/*.whl dist/
	cd dist && sha256sum $(RELEASE_ZIP) cfn-sagemaker-autoscaling.template.yaml sar/template.yaml *.tgz *.whl > SHA256SUMS
	ls -l dist

## release-check: the release as a user gets it: SHA256SUMS holds; the plain template linted and deployed from the
## zip against the emulator; the SAR listing linted.
release-check: release
	cd dist && sha256sum --check --quiet SHA256SUMS
	$(VENV)/bin/cfn-lint dist/cfn-sagemaker-autoscaling.template.yaml dist/sar/template.yaml
	$(PY) tests/release/deploy_plain_template.py dist

## cdk-lib: the construct library's tests (aws-cdk-lib/assertions), every synthesized resource through the function's
## own validation, then a TypeScript app and a Python app installed from dist/ (the npm tarball; the wheel, in a
## fresh virtualenv) and synthesized on a PATH without cargo or rustc, and linted.
NO_RUST_PATH := $(shell echo "$$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e '\.rustup' | paste -sd: -)
cdk-lib: venv release
	cd $(CDK_LIB) && node --test test/
	cargo run --locked --quiet --example validate -- $(CDK_LIB)/test/synthesized.json
	! PATH="$(NO_RUST_PATH)" command -v cargo && ! PATH="$(NO_RUST_PATH)" command -v rustc
	cd examples/cdk-lib-ts && PATH="$(NO_RUST_PATH)" npm ci --no-audit --no-fund --loglevel=error && \
	  PATH="$(NO_RUST_PATH)" npm install --no-save --no-audit --no-fund --loglevel=error ../../dist/*.jsii.tgz
	cd examples/cdk-lib-ts && rm -rf cdk.out && PATH="$(NO_RUST_PATH)" npx tsc && PATH="$(NO_RUST_PATH)" node app.js
	rm -rf $(CDK_PY) && python3 -m venv $(CDK_PY)
	PATH="$(NO_RUST_PATH)" $(CDK_PY)/bin/pip install --quiet --disable-pip-version-check dist/*.whl -r examples/cdk-python/requirements.txt
	cd examples/cdk-python && rm -rf cdk.out && PATH="$(NO_RUST_PATH)" ../../$(CDK_PY)/bin/python app.py
	# cdk/README.md's examples, as npm, PyPI and Construct Hub show them, compiled and run on the same installs.
	$(PY) tools/readme_blocks.py $(CDK_LIB)/README.md ts examples/cdk-lib-ts/readme ts
	cd examples/cdk-lib-ts && PATH="$(NO_RUST_PATH)" npx tsc --target ES2022 --module commonjs --strict --esModuleInterop --skipLibCheck readme0.ts \
	  && PATH="$(NO_RUST_PATH)" node readme0.js
	$(PY) tools/readme_blocks.py $(CDK_LIB)/README.md python $(CDK_PY)/readme py
	cd $(CDK_PY) && PATH="$(NO_RUST_PATH)" bin/python readme0.py
	# W3005 is reported inside the resources aws-cdk-lib generates (the role's DependsOn), not in ours.
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- examples/cdk-lib-ts/cdk.out/*.template.json examples/cdk-python/cdk.out/*.template.json

## watch: `cargo lambda watch` against the embedded emulator (port 5055, with the SageMaker resources events/ names)
## and a printing ResponseURL receiver (9876);
## then, in another shell: .venv/bin/cargo-lambda lambda invoke --data-file events/01-target-create.json
watch: venv
	$(PY) tests/emulator/aas_emulator.py --port 5055 --receiver-port 9876 --seed-events & trap "kill $$!" EXIT; \
	PATH="$(abspath $(VENV))/bin:$$PATH" cargo lambda watch --env-var AWS_ENDPOINT_URL=http://127.0.0.1:5055 \
	  --env-var AWS_REGION=us-east-1,AWS_ACCESS_KEY_ID=testing,AWS_SECRET_ACCESS_KEY=testing,RESPONSE_URL_ALLOWED_HOSTS=127.0.0.1

## bench: the benchmark (not a test): the release bootstrap against a Python crhelper peer, both through the same
## Runtime API, emulator and https ResponseURL receiver. Writes bench/results/ and the table in README.md.
BENCH_VENV ?= .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-$(shell cksum < requirements-bench.txt | cut -d' ' -f1)
$(BENCH_STAMP): requirements-bench.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	rm -f $(BENCH_VENV)/.installed-* && touch $@
bench: venv $(BENCH_STAMP) package
	# Two invocations: built together, the bootstrap would get the example's dev-dependency features.
	cargo build --release --locked --bin cfn-sagemaker-autoscaling
	cargo build --release --locked --example bench
	cargo build --release --locked -p floor
	CFN_SMA_BOOTSTRAP=$(abspath target/release/cfn-sagemaker-autoscaling) BENCH_PEER_PYTHON=$(abspath $(BENCH_VENV))/bin/python \
	  BENCH_FLOOR=$(abspath target/release/floor) \
	  target/release/examples/bench
	$(BENCH_VENV)/bin/python bench/chart.py bench/results/results.json bench/results/chart.png

## package: the deployable zip (arm64; ARCH=x86_64 for the other one)
ARCH ?= arm64
package: venv
	rustup target add $(if $(filter arm64,$(ARCH)),aarch64,x86_64)-unknown-linux-gnu
	PATH="$(abspath $(VENV))/bin:$$PATH" cargo lambda build --release --$(subst _,-,$(ARCH)) --output-format zip
	ls -l target/lambda/cfn-sagemaker-autoscaling/bootstrap.zip

## sar: what `sam publish` takes (not part of `make test`: it uploads to your bucket, with your credentials):
## make sar SAR_BUCKET=<bucket> && .venv-tools/bin/sam publish -t .aws-sam/packaged.yaml
sar: venv tools
	SAM_CLI_TELEMETRY=0 PATH="$(abspath $(VENV))/bin:$$PATH" $(TOOLS)/bin/sam build --beta-features -t template.yaml
	SAM_CLI_TELEMETRY=0 $(TOOLS)/bin/sam package --s3-bucket $(SAR_BUCKET) --output-template-file .aws-sam/packaged.yaml

clean:
	cargo clean
	rm -rf dist $(VENV) $(TOOLS) $(BENCH_VENV) $(CDK_PY) .aws-sam $(CDK_DIR)/node_modules $(CDK_DIR)/cdk.out $(CDK_DIR)/build \
	  $(CDK_LIB)/node_modules $(CDK_LIB)/dist examples/cdk-lib-ts/node_modules examples/cdk-lib-ts/cdk.out examples/cdk-python/cdk.out
