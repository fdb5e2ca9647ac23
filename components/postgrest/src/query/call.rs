//! A function call as a row source: arguments passed as one JSON object
//! through `json_to_record` (PostgreSQL converts each to the parameter's type).

use super::sql::Sql;
use crate::plan::rpc::Call;

impl Call {
    pub fn render_source(&self, st: &mut Sql) {
        if self.in_select_list {
            st.push("(SELECT ");
            self.render_call(st);
            st.push(" AS pgrst_call");
            if !self.args.is_empty() && self.whole_body.is_none() {
                st.push(" FROM json_to_record(")
                    .param(self.payload.clone())
                    .push("::json) AS pgrst_args(");
                self.render_arg_defs(st);
                st.push(")");
            }
            st.push(")");
            return;
        }
        if self.whole_body.is_some() || self.args.is_empty() {
            self.render_call(st);
            return;
        }
        st.push("(SELECT pgrst_call.* FROM json_to_record(")
            .param(self.payload.clone())
            .push("::json) AS pgrst_args(");
        self.render_arg_defs(st);
        st.push("), LATERAL ");
        self.render_call(st);
        st.push(" AS pgrst_call)");
    }

    /// `schema.f(arg := pgrst_args.arg, …)` (or the whole body as the one argument).
    fn render_call(&self, st: &mut Sql) {
        st.ident(&self.schema).push(".").ident(&self.name).push("(");
        if let Some(ty) = &self.whole_body {
            st.param(self.payload.clone()).push("::").push(ty);
        }
        for (i, (name, _, variadic)) in self.args.iter().enumerate() {
            if i > 0 {
                st.push(", ");
            }
            if *variadic {
                st.push("VARIADIC ");
            }
            st.ident(name).push(" := pgrst_args.").ident(name);
        }
        st.push(")");
    }

    fn render_arg_defs(&self, st: &mut Sql) {
        for (i, (name, ty, _)) in self.args.iter().enumerate() {
            if i > 0 {
                st.push(", ");
            }
            // `character` and `bit` mean length 1 here; the function's own
            // parameter takes any length (PostgREST reads them as varying).
            let ty = match ty.as_str() {
                "character" => "character varying",
                "character[]" => "character varying[]",
                "bit" => "bit varying",
                "bit[]" => "bit varying[]",
                t => t,
            };
            st.ident(name).push(" ").push(ty);
        }
    }
}
