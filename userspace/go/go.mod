module cyphera.dev/conformance

go 1.19
