# CPU image: installs TankerWatch and runs `tankerwatch`.
#   docker build -t tankerwatch .
#   docker run --rm -v "$PWD/out:/out" tankerwatch demo --out /out
# GPU variant: build FROM an nvidia/cuda runtime image with Python 3.11 (or keep this base) and
# install the same torch==2.14.1 / torchvision==0.29.1 CUDA wheels from PyPI (the default Linux
# wheels are CUDA builds); run with `docker run --gpus all ...`. `tankerwatch train` uses CUDA
# when torch sees a GPU.
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 MPLBACKEND=Agg
RUN apt-get update \
    && apt-get install -y --no-install-recommends libexpat1 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY configs ./configs
COPY models ./models
COPY notebooks ./notebooks
RUN pip install --no-cache-dir -e .
ENV TANKERWATCH_HOME=/app

RUN useradd --create-home tw
USER tw
WORKDIR /home/tw
ENTRYPOINT ["tankerwatch"]
CMD ["--help"]
