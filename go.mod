module github.com/stload/stload

go 1.26.0

require (
	github.com/google/uuid v1.1.1 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	golang.org/x/sys v0.50.0 // indirect
	gorgonia.org/cu v0.9.6 // indirect
)
