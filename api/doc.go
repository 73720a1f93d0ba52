// Package api holds riskd's HTTP contract: openapi.yaml, an OpenAPI 3.1 description of every endpoint, every
// request and response body, every error code with its status, and the API-key security scheme. riskd serves
// it at GET /openapi.yaml, and the server's tests validate every request and answer they exchange against it,
// so the contract and the server cannot drift apart unnoticed.
package api
