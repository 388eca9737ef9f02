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
    fn parse(tokens: TokenStream, allow_cores: bool) -> syn::Result<Args> {
        let mut args = Args::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("driver") {
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
        syn::parse::Parser::parse(parser, tokens)?;
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
    args: TokenStream,
    item: TokenStream,
    what: &str,
    allow_cores: bool,
    build: fn(Args, ItemFn) -> TokenStream2,
) -> TokenStream {
    let result = Args::parse(args, allow_cores).and_then(|args| {
        let f: ItemFn = syn::parse(item)?;
        check_signature(&f, what)?;
        Ok(build(args, f))
    });
    result.unwrap_or_else(syn::Error::into_compile_error).into()
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
    expand(args, item, "#[ringpoll::main]", true, |args, f| {
        let ItemFn { attrs, vis, sig, block } = f;
        let mut sig = sig;
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
    })
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
    expand(args, item, "#[ringpoll::test]", false, |args, f| {
        let ItemFn { attrs, vis, sig, block } = f;
        let mut sig = sig;
        sig.asyncness = None;
        let driver = args.driver();
        quote! {
            #[::core::prelude::v1::test]
            #(#attrs)*
            #vis #sig {
                ::ringpoll::__macros::block_on(#driver, async move #block)
            }
        }
    })
}
