{#
  The columns every provider's int_<provider>__focus_costs model produces, in this order:
  the 57 FOCUS 1.2 CostAndUsage columns, then AutoStack's x_ columns. focus.costs_v1_2
  unions them by this list, and its contract enforces the types.
#}
{% macro focus_1_2_columns() -%}
{{ return([
  'AvailabilityZone', 'BilledCost', 'BillingAccountId', 'BillingAccountName', 'BillingAccountType',
  'BillingCurrency', 'BillingPeriodEnd', 'BillingPeriodStart', 'CapacityReservationId',
  'CapacityReservationStatus', 'ChargeCategory', 'ChargeClass', 'ChargeDescription', 'ChargeFrequency',
  'ChargePeriodEnd', 'ChargePeriodStart', 'CommitmentDiscountCategory', 'CommitmentDiscountId',
  'CommitmentDiscountName', 'CommitmentDiscountQuantity', 'CommitmentDiscountStatus',
  'CommitmentDiscountType', 'CommitmentDiscountUnit', 'ConsumedQuantity', 'ConsumedUnit',
  'ContractedCost', 'ContractedUnitPrice', 'EffectiveCost', 'InvoiceId', 'InvoiceIssuerName',
  'ListCost', 'ListUnitPrice', 'PricingCategory', 'PricingCurrency',
  'PricingCurrencyContractedUnitPrice', 'PricingCurrencyEffectiveCost', 'PricingCurrencyListUnitPrice',
  'PricingQuantity', 'PricingUnit', 'ProviderName', 'PublisherName', 'RegionId', 'RegionName',
  'ResourceId', 'ResourceName', 'ResourceType', 'ServiceCategory', 'ServiceName', 'ServiceSubcategory',
  'SkuId', 'SkuMeter', 'SkuPriceDetails', 'SkuPriceId', 'SubAccountId', 'SubAccountName',
  'SubAccountType', 'Tags'
]) }}
{%- endmacro %}

{% macro autostack_x_columns() -%}
{{ return([
  'x_SourceFormat', 'x_SourceUri', 'x_LoadId', 'x_IngestedAt', 'x_Dataset',
  'x_ServiceCode', 'x_UsageType', 'x_Operation', 'x_CostType', 'x_CreditAmount', 'x_Extras'
]) }}
{%- endmacro %}
