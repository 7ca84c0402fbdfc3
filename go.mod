module github.com/lined/lined

go 1.26.8
