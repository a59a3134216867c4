// Package openapitest holds the tests that check the API against its
// OpenAPI 3.1 document (httpapi/openapi.json). They live apart from
// package httpapi so that fuzzing httpapi does not build the OpenAPI
// validator with fuzzing instrumentation.
package openapitest
