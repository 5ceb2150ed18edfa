// Package deploy holds what docker-compose.yml runs beside the images (the
// Kafka Connect start and registration scripts), and the tests that check
// the compose file, the Dockerfile and those scripts without Docker.
package deploy
