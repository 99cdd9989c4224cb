#!/usr/bin/env bash
# The benchmarks on an NVIDIA GPU: builds stable-diffusion-cpp-python 0.4.7 with -DSD_CUDA=ON into a
# folder of its own (the project's .venv keeps its CPU build), then runs bench_server_overhead and
# bench_cache_modes against it. Not part of the suite: CI has no GPU.
#
#   bench/cuda_bench.sh                      # online: pip fetches the sdist and the server's dependencies
#   ENGINE_SDIST=x.tar.gz WHEELS=dir/ bench/cuda_bench.sh    # offline: a downloaded sdist and wheels of
#                                                            # every dependency in pyproject.toml (psycopg too)
#
# Needs python3 (3.11+) with numpy, safetensors and scikit-build-core, CMake and CUDA's nvcc.
# Environment: CUDA_ARCH (CMAKE_CUDA_ARCHITECTURES, default native), SITE (install folder, default
# .gpu/site), LOGS (default .gpu/logs), SKIP_BUILD=1 (reuse SITE), BENCH_SECONDS (time limit of each
# benchmark, default 240), DEADLINE_SECONDS (stop each benchmark in time to end the whole script by then).
set -euo pipefail
cd "$(dirname "$0")/.."
site="${SITE:-$PWD/.gpu/site}"
logs="${LOGS:-$PWD/.gpu/logs}"
mkdir -p "$site" "$logs"
started=$SECONDS
say() { echo "[cuda_bench +$((SECONDS - started))s] $*"; }

if [ "${SKIP_BUILD:-}" != "1" ]; then
    say "server dependencies"
    if [ -n "${WHEELS:-}" ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$site" "$WHEELS"/*.whl
    else
        python3 -m pip install -q --upgrade --target "$site" fastapi "uvicorn[standard]" pydantic pydantic-settings \
            "sqlalchemy>=2.0,<2.1" alembic "psycopg[binary]" pyjwt argon2-cffi python-pam httpx prometheus-client python-multipart
    fi
    say "engine: stable-diffusion-cpp-python with CUDA (arch ${CUDA_ARCH:-native})"
    CMAKE_ARGS="-DSD_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH:-native}" \
        CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        python3 -m pip install --no-deps --no-build-isolation --no-compile --target "$site" \
        "${ENGINE_SDIST:-stable-diffusion-cpp-python==0.4.7}" >"$logs/engine-build.log" 2>&1 \
        || { tail -40 "$logs/engine-build.log"; exit 1; }
    say "engine built"
fi
export PYTHONPATH="$site:$PWD/src:$PWD" PYTHONUNBUFFERED=1
python3 -c 'import stable_diffusion_cpp, sys; print("engine", stable_diffusion_cpp.__version__, sys.version.split()[0])'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

say "random-weight test models"
python3 -m tests.fixtures.test_models

threads=$(($(nproc) < 8 ? $(nproc) : 8))
# Each benchmark gets BENCH_SECONDS, or less where DEADLINE_SECONDS leaves less (the second gets what is left).
limit_for() {
    local limit="${BENCH_SECONDS:-240}" left
    if [ -n "${DEADLINE_SECONDS:-}" ]; then
        left=$(((DEADLINE_SECONDS - (SECONDS - started)) / $1))
        [ "$left" -lt "$limit" ] && limit=$left
    fi
    echo $((limit > 10 ? limit : 10))
}
limit=$(limit_for 2)
say "bench_server_overhead (threads $threads, at most ${limit}s)"
SDCPP_REST_TEST_THREADS=$threads timeout "$limit" python3 -m bench.bench_server_overhead \
    --repeats 3 --sizes ${OVERHEAD_SIZES:-64,256,512} --steps 10 --threads "$threads" --no-health 2>&1 | tee "$logs/server_overhead.txt" || true
limit=$(limit_for 1)
say "bench_cache_modes (at most ${limit}s)"
SDCPP_REST_TEST_THREADS=$threads timeout "$limit" python3 -m bench.bench_cache_modes \
    --sizes ${CACHE_SIZES:-256 512} --steps 12 --runs 2 2>&1 | tee "$logs/cache_modes.txt" || true
say "done"
