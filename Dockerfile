# callpop daemon image. Build: docker build -t callpop .
# Run:   docker run -p 8080:8080 -v $PWD/callpop.yaml:/etc/callpop/callpop.yaml:ro \
#          -e CALLPOP_AMI_SECRET -e CALLPOP_AGENT_TOKEN callpop

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# A larger young generation: fewer objects promoted per AMI/ESL event, fewer major GC pauses
# at high call rates (docs/performance.md, "Tuning the Node.js heap").
ENV NODE_OPTIONS=--max-semi-space-size=32
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json config.example.yaml ./
COPY bin ./bin
COPY docs ./docs
# The call log and outbox live beside the config by default; mount a volume for them.
RUN mkdir -p /etc/callpop /var/lib/callpop && chown node:node /var/lib/callpop
USER node
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
ENTRYPOINT ["node", "bin/callpop"]
CMD ["run", "-c", "/etc/callpop/callpop.yaml"]
