//! `#[ringpoll::main]` and `#[ringpoll::test]`. Use them through the `ringpoll` crate, which
//! re-exports both; the expansion calls `::ringpoll::__macros`, so it needs `ringpoll` as a
//! dependency.
//!
//! The expansion stays small: parsing and checking the arguments happens here, at compile
//! time; running the body is ordinary code in the facade.

#![doc(test(attr(deny(warnings), allow(dead_code))))]

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ItemFn, LitInt, LitStr};

/// The attribute's arguments: `cores = [0, 1]` and `driver = "uring" | "epoll" | "auto"`.
#[derive(Default)]
struct Args {
    cores: Option<Vec<LitInt>>,
    driver: Option<LitStr>,
}

impl Args {
    fn parse(tokens: TokenStream2, allow_cores: bool) -> syn::Result<Args> {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| {
            if args.driver.is_some() && meta.path.is_ident("driver")
                || args.cores.is_some() && meta.path.is_ident("cores")
            {
                Err(meta.error("argument given twice"))
            } else if meta.path.is_ident("driver") {
                let lit: LitStr = meta.value()?.parse()?;
                if !matches!(lit.value().as_str(), "uring" | "epoll" | "auto") {
                    return Err(syn::Error::new(lit.span(), "driver must be \"uring\", \"epoll\" or \"auto\""));
                }
                args.driver = Some(lit);
                Ok(())
            } else if allow_cores && meta.path.is_ident("cores") {
                let array: ExprArray = meta.value()?.parse()?;
                args.cores = Some(cpu_list(&array)?);
                Ok(())
            } else if allow_cores {
                Err(meta.error("unknown argument: expected `cores = [..]` or `driver = \"..\"`"))
            } else {
                Err(meta.error("unknown argument: expected `driver = \"..\"`"))
            }
        });
        syn::parse::Parser::parse2(parser, tokens)?;
        Ok(args)
    }

    /// `Some(DriverChoice::X)` for a driver named, `None` to follow RINGPOLL_DRIVER.
    fn driver(&self) -> TokenStream2 {
        match self.driver.as_ref().map(|lit| lit.value()) {
            Some(name) => {
                let variant = match name.as_str() {
                    "uring" => quote!(Uring),
                    "epoll" => quote!(Epoll),
                    _ => quote!(Auto),
                };
                quote!(::core::option::Option::Some(::ringpoll::DriverChoice::#variant))
            }
            None => quote!(::core::option::Option::None),
        }
    }
}

/// The CPU numbers of `cores = [..]`: a non-empty list of integer literals.
fn cpu_list(array: &ExprArray) -> syn::Result<Vec<LitInt>> {
    if array.elems.is_empty() {
        return Err(syn::Error::new(array.span(), "cores needs at least one CPU number"));
    }
    array
        .elems
        .iter()
        .map(|elem| match elem {
            Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(int), .. }) => {
                int.base10_parse::<usize>()?;
                Ok(int.clone())
            }
            other => Err(syn::Error::new(other.span(), "cores takes CPU numbers, e.g. cores = [0, 1]")),
        })
        .collect()
}

/// Checks the function is `async` and takes no arguments.
fn check_signature(f: &ItemFn, what: &str) -> syn::Result<()> {
    if f.sig.asyncness.is_none() {
        return Err(syn::Error::new(f.sig.fn_token.span(), format!("{what} must be an `async fn`")));
    }
    if !f.sig.inputs.is_empty() {
        return Err(syn::Error::new(f.sig.inputs.span(), format!("{what} takes no arguments")));
    }
    Ok(())
}

fn expand(
    args: TokenStream2,
    item: TokenStream2,
    what: &str,
    allow_cores: bool,
    build: fn(Args, ItemFn) -> TokenStream2,
) -> TokenStream2 {
    let f: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(e) => return with_error(item, e),
    };
    let checked = Args::parse(args, allow_cores).and_then(|args| check_signature(&f, what).map(|()| args));
    match checked {
        Ok(args) => build(args, f),
        Err(e) => with_error(stub(f), e),
    }
}

/// The error, and beside it what the item still declares: without the function, a bad
/// argument to `main` would also be reported as "`main` function not found".
fn with_error(item: TokenStream2, error: syn::Error) -> TokenStream2 {
    let error = error.into_compile_error();
    quote! { #item #error }
}

/// The function with its name, visibility and return type but a body that is never checked:
/// no `async`, no arguments and no `#[test]`, so it adds no errors of its own.
fn stub(f: ItemFn) -> TokenStream2 {
    let ItemFn { attrs, vis, mut sig, .. } = f;
    sig.asyncness = None;
    sig.inputs.clear();
    let attrs = attrs.iter().filter(|a| !a.path().is_ident("should_panic") && !a.path().is_ident("ignore"));
    quote! {
        #[allow(dead_code, unreachable_code)]
        #(#attrs)*
        #vis #sig { ::core::unimplemented!() }
    }
}

/// Runs `async fn main` on ringpoll.
///
/// - `#[ringpoll::main]`: the body runs once on the calling thread (`ringpoll::block_on`),
///   on the driver `RINGPOLL_DRIVER` picks.
/// - `#[ringpoll::main(cores = [0, 1])]`: a runtime with one pinned thread per listed CPU,
///   and the body runs once on **each** of them (the thread-per-core way: every core binds
///   its own listener); `main` returns when all are done. For `Result` outputs, the first
///   error wins; otherwise the first core's output is returned.
/// - `driver = "uring" | "epoll" | "auto"` forces the driver.
///
/// A runtime that cannot start, or a core whose body panics, panics `main` with the reason.
///
/// With `cores`, each core's output crosses back to `main`'s thread, so it must be `Send`:
/// the usual `Result<(), Box<dyn std::error::Error>>` does not compile there ("`dyn
/// std::error::Error` cannot be sent between threads safely ... required by a bound in
/// `on_cores`"); return `Box<dyn std::error::Error + Send + Sync>` (what `?` makes of any
/// std error too) or `std::io::Result`. Without `cores` the body runs on `main`'s own
/// thread and any output will do.
///
/// ```no_run
/// #[ringpoll::main(cores = [0, 1])]
/// async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
///     let config = ringpoll::fs::read_to_string("/etc/hostname").await?;
///     let port: u16 = config.trim().len().try_into()?; // any std error converts
///     let _ = port;
///     Ok(())
/// }
/// ```
///
/// ```compile_fail
/// #[ringpoll::main(cores = [0, 1])] // error: `dyn std::error::Error` cannot be sent between threads
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     Ok(())
/// }
/// ```
///
/// ```no_run
/// #[ringpoll::main(cores = [0, 1])]
/// async fn main() -> std::io::Result<()> {
///     let listener = ringpoll::net::TcpListener::bind("127.0.0.1:7000")?; // one per core
///     let (stream, _peer) = listener.accept().await?;
///     let (res, _buf) = stream.write_all(b"hello\n".to_vec()).await;
///     res
/// }
/// ```
///
/// Arguments are checked when compiling:
///
/// ```compile_fail
/// #[ringpoll::main(driver = "kqueue")] // error: driver must be "uring", "epoll" or "auto"
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// #[ringpoll::main(threads = 4)] // error: unknown argument
/// async fn main() {}
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args.into(), item.into(), "#[ringpoll::main]", true, expand_main).into()
}

/// `main` made sync: its body runs on ringpoll, on one thread or on each listed core.
fn expand_main(args: Args, f: ItemFn) -> TokenStream2 {
    let ItemFn { attrs, vis, mut sig, block } = f;
    sig.asyncness = None;
    let driver = args.driver();
    let run = match &args.cores {
        None => quote! { ::ringpoll::__macros::block_on(#driver, async move #block) },
        Some(cores) => quote! {
            ::ringpoll::__macros::on_cores(&[#(#cores),*], #driver, move |_core| async move #block)
        },
    };
    quote! {
        #(#attrs)*
        #vis #sig {
            #run
        }
    }
}

/// Runs an `async fn` test on a fresh ringpoll core on the test's thread
/// (`ringpoll::block_on`), on the driver `RINGPOLL_DRIVER` picks, or on the one forced by
/// `driver = "uring" | "epoll" | "auto"`.
///
/// ```no_run
/// #[ringpoll::test]
/// async fn sleeps() {
///     ringpoll::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// ```compile_fail
/// #[ringpoll::test]
/// fn not_async() {} // error: #[ringpoll::test] must be an `async fn`
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args.into(), item.into(), "#[ringpoll::test]", false, expand_test).into()
}

/// A sync `#[test]` whose body runs on a fresh core.
fn expand_test(args: Args, f: ItemFn) -> TokenStream2 {
    let ItemFn { attrs, vis, mut sig, block } = f;
    sig.asyncness = None;
    let driver = args.driver();
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        #vis #sig {
            ::ringpoll::__macros::block_on(#driver, async move #block)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{expand, expand_main};

    fn expand_main_of(args: &str, item: &str) -> String {
        let (args, item) = (args.parse().unwrap(), item.parse().unwrap());
        expand(args, item, "#[ringpoll::main]", true, expand_main).to_string()
    }

    #[test]
    fn a_bad_argument_is_one_error_and_main_still_exists() {
        for args in ["driver = \"kqueue\"", "threads = 4", "cores = []", "cores = [a]"] {
            let out = expand_main_of(args, "async fn main() -> std::io::Result<()> { Ok(()) }");
            assert_eq!(out.matches("compile_error").count(), 1, "{args}: {out}");
            assert!(out.contains("fn main () -> std :: io :: Result < () >"), "{args}: {out}");
            assert!(!out.contains("async"), "{args}: {out}");
        }
    }

    #[test]
    fn a_bad_signature_keeps_a_sync_main_without_arguments() {
        let out = expand_main_of("", "async fn main(x: u32) {}");
        assert_eq!(out.matches("compile_error").count(), 1, "{out}");
        assert!(out.contains("fn main ()") && !out.contains("async"), "{out}");
    }

    #[test]
    fn an_argument_given_twice_is_an_error() {
        for args in ["driver = \"epoll\", driver = \"uring\"", "cores = [0], cores = [1]"] {
            let out = expand_main_of(args, "async fn main() {}");
            assert!(out.contains("compile_error") && out.contains("given twice"), "{args}: {out}");
        }
    }

    #[test]
    fn good_arguments_expand_without_error() {
        let out = expand_main_of("cores = [0, 1], driver = \"epoll\"", "async fn main() {}");
        assert!(!out.contains("compile_error") && out.contains("on_cores"), "{out}");
    }
}
