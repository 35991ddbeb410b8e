# The streaming services: one image, one process per container (see docker-compose.yml).
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY . .
ENV STREAMING_HTTP_HOST=0.0.0.0
ENTRYPOINT ["node", "cli/main.ts"]
