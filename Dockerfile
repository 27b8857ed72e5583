# Shipmate on Debian 12. Its only RUN steps are the project's own: scripts/install-deps,
# scripts/build, then the install step (cmake --install), so CI exercises exactly what this image
# runs (tests/e2e/packaging_e2e_test.cpp pins that). The process runs as an unprivileged uid; the
# Kubernetes manifests in deploy/kubernetes mount the configuration and the database's volume.
FROM debian:12
COPY . /src
WORKDIR /src
RUN ./scripts/install-deps
RUN ./scripts/build
RUN cmake --install build --prefix /usr/local
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/shipmate"]
CMD ["serve", "--no-terminal", "--config", "/etc/shipmate/shipmate.yaml", "--database", "/var/lib/shipmate/shipmate.db", "--state-dir", "/var/lib/shipmate/state"]
