package assets

// The samples written as XLSForms become the embedded JSON templates.
//go:generate go run ./internal/samples
