{{ config(pre_hook="insert into " ~ target.schema ~ ".audit values ('pre', 'biggest')") }}
select {{ max_of(ref('raw_orders'), 'amount') }} as max_amount, {{ execute }} as executed
